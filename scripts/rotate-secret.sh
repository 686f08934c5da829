#!/usr/bin/env bash
# Rotates a deployed stack's token signing key without logging anyone out (docs/secrets.md):
# a new random key becomes the current one, the current one becomes the previous one (tokens it
# signed keep verifying), and the code-hashing key material stays as it was (codes in flight and
# the per-address counters survive). Functions pick the new key up at their next cold start, or
# on the first token they see with its kid.
#
#   scripts/rotate-secret.sh demo|prod     (make rotate-secret ENV=...): the stack's AppSecret
#   SECRET_ID=<arn or name> scripts/rotate-secret.sh: any secret in this format
#
# Refuses to rotate again within ROTATE_MIN_HOURS (25: a token's lifetime, 24 hours, plus the
# hour a warm function may go on signing with the old key) of the last rotation, which would
# log out the holders of tokens the previous key signed; FORCE=1 rotates anyway.
# The keys never reach the terminal, the log or a command line.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

# The aws CLI reads AWS_DEFAULT_REGION (or the profile's), not AWS_REGION; deploy.sh takes either.
if [ -n "${AWS_REGION:-}" ]; then export AWS_DEFAULT_REGION="$AWS_REGION"; fi
min_hours="${ROTATE_MIN_HOURS:-25}"
secret_id="${SECRET_ID:-}"
if [ -z "$secret_id" ]; then
  case "${1:-}" in
    demo) config_env=default ;;
    prod) config_env=prod ;;
    *) echo "usage: scripts/rotate-secret.sh demo|prod (or SECRET_ID=... with no argument)" >&2; exit 2 ;;
  esac
  stack="$(python3 -c '
import sys, tomllib
with open("samconfig.toml", "rb") as f:
    print(tomllib.load(f)[sys.argv[1]]["global"]["parameters"]["stack_name"])
' "$config_env")"
  secret_id="$(aws cloudformation describe-stack-resource --stack-name "$stack" \
    --logical-resource-id AppSecret --query StackResourceDetail.PhysicalResourceId --output text)"
  echo "rotate-secret.sh: stack $stack, secret $secret_id" >&2
fi

old="$(aws secretsmanager get-secret-value --secret-id "$secret_id" --query SecretString --output text)"
kid="k$(date -u +%Y%m%dT%H%M%SZ)"
now="$(date -u +%s)"
# 32 random bytes as 64 hex characters: 256 bits, as HS256 wants.
key="$(openssl rand -hex 32)"
# A plain string is the stack's first key, `k0`; its code-hashing material is that key itself.
# (JSON is told by its `{`, as the functions tell it: jq 1.6's `try` would also catch the error
# below.)
next="$(jq -n -c --arg old "$old" --arg kid "$kid" --arg key "$key" --argjson now "$now" \
  --argjson min_hours "$min_hours" --arg force "${FORCE:-}" '
  (if ($old | test("^\\s*[{]")) then $old | fromjson else {current: {kid: "k0", key: $old}} end) as $s
  | if $force == "" and ($s.rotated_at // 0) > $now - $min_hours * 3600 then
      error("the last rotation was less than \($min_hours) hours ago: tokens the previous key signed would stop working (FORCE=1 rotates anyway)")
    else . end
  | {current: {kid: $kid, key: $key}, previous: $s.current,
     otp_key: ($s.otp_key // $s.current.key), rotated_at: $now}')"
previous="$(jq -r '.previous.kid' <<<"$next")"
# The value goes through stdin, never the command line (which other users can read).
printf '%s' "$next" | aws secretsmanager put-secret-value --secret-id "$secret_id" \
  --secret-string file:///dev/stdin >/dev/null
echo "rotate-secret.sh: current key $kid, previous $previous; warm functions read it on the first token of $kid, cold ones at start" >&2

#!/usr/bin/env bash
# `cargo lambda invoke --data-file` with the send-code and verify-code events (and a few more)
# against the running local stack: each answers the status its file name documents.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
: "${API_PORT:?run through scripts/with-stack.sh, which starts the API}"

# The events' phone (xtask/src/routes.rs, EVENT_PHONE) is used by no other stack test, so
# verify-code.201-first-login is its first login in a fresh stack; the tokens are for it too.
PHONE=$(python3 -c 'import json; print(json.loads(json.load(open("events/send-code.200.json"))["body"])["phone"])')
export PHONE

status_of() { python3 -c 'import json, sys; print(json.load(sys.stdin)["statusCode"])'; }
expect() { # function, event file, expected status; prints the response
  local out status
  out=$(scripts/invoke.sh "$1" "$2")
  status=$(printf '%s' "$out" | status_of)
  if [ "$status" != "$3" ]; then
    echo "FAIL $1 $2: expected $3, got $status: $out" >&2
    exit 1
  fi
  echo "ok   $1 $2 -> $status" >&2
  printf '%s' "$out"
}

sent=$(expect send-code events/send-code.200.json 200)
CODE=$(printf '%s' "$sent" | python3 -c 'import json, sys; print(json.loads(json.load(sys.stdin)["body"])["code"])')
export CODE
expect send-code events/send-code.400-invalid-phone.json 400 >/dev/null
expect send-code events/send-code.415-not-json.json 415 >/dev/null
expect verify-code events/verify-code.201-first-login.json 201 >/dev/null
# The code is used now, so the same phone has none pending: invalid_code, as for a wrong code,
# and no attempts_left (only a live code's requester hears those).
problem=$(expect verify-code events/verify-code.401-no-code-pending.json 401 | python3 -c 'import json, sys; b = json.loads(json.load(sys.stdin)["body"]); print(b["code"], "attempts_left" in b)')
[ "$problem" = "invalid_code False" ] || { echo "FAIL verify-code events/verify-code.401-no-code-pending.json: $problem, expected invalid_code without attempts_left" >&2; exit 1; }
# The authenticated events get a real token from scripts/event-token.sh.
expect profile events/profile.200.json 200 >/dev/null
expect profile events/referrals.200.json 200 >/dev/null
expect web events/web-openapi.200.json 200 >/dev/null
# Another method on a known path, as the `$default` route hands it to web on AWS.
allowed=$(expect web events/web.405-other-method.json 405 | python3 -c 'import json, sys; print({k.lower(): v for k, v in json.load(sys.stdin)["headers"].items()}.get("allow"))')
[ "$allowed" = "GET, DELETE" ] || { echo "FAIL web events/web.405-other-method.json: Allow is $allowed, expected GET, DELETE" >&2; exit 1; }
echo "cargo lambda invoke: 9 passed, 0 failed"

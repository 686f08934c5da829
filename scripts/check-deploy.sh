#!/usr/bin/env bash
# Everything about the deploy that can be checked without an AWS account: the templates lint
# clean (the API's with its nested monitoring.yaml, the edge's in deploy/edge.yaml, the GitHub
# deploy role's), the SAM-transformed
# template and the deploy role pass scripts/check-templates.py, `make deploy`/`make destroy` run
# the right sam and aws commands (scripts/test-deploy.sh), the
# import template for the kept tables lints clean, `sam build` (the Makefile's build-* targets)
# produces one static arm64 bootstrap per function, without the test helpers, with the SNS
# client in send-code only and the Secrets Manager client in all but web, and the GitHub
# workflows pass actionlint. Prints each bootstrap's size.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export SAM_CLI_TELEMETRY=0

TEMPLATES=(template.yaml monitoring.yaml deploy/edge.yaml deploy/github-role.yaml)
log "cfn-lint ${TEMPLATES[*]}"
cfn-lint "${TEMPLATES[@]}"
for template in "${TEMPLATES[@]}"; do
  log "sam validate --lint -t $template"
  sam validate --lint -t "$template" --region us-east-1 >/dev/null
done

log "the transformed template and the deploy role (scripts/check-templates.py)"
python3 scripts/check-templates.py

log "make deploy / destroy (scripts/deploy.sh with a stub sam)"
scripts/test-deploy.sh

log "import template for the tables a deleted stack keeps (xtask import-tables)"
cargo run --quiet -p xtask -- import-tables example-users example-uniques target/import >/dev/null
cfn-lint target/import/template.json

# sam build runs scripts/build-lambda.sh: `cargo lambda build --bin NAME` at the workspace root builds the default
# members with their features unified: the test helpers (`testing`, which xtask and perf turn on) must not be
# among them, so neither xtask nor perf may be a default member.
log "features of shared in the functions sam builds"
# On its own line, so a failing cargo tree stops the script instead of passing the check.
features=$(cargo tree -e features -i shared --prefix none)
if grep -q 'shared feature "testing"' <<<"$features"; then
  log "the deployed functions would be built with shared's test helpers (feature testing)"; exit 1
fi

log "sam build (arm64, release, static musl)"
sam build --build-dir .aws-sam/build >.aws-sam-build.log 2>&1 || { tail -40 .aws-sam-build.log; exit 1; }

# Static musl binaries (scripts/build-lambda.sh): nothing to load from Amazon Linux 2023, whatever
# its glibc. Every bootstrap stays at or under 8 MiB (the SNS sender included, in send-code only):
# size is paid at every cold start.
MAX_BYTES=$((8 * 1024 * 1024))
shopt -s nullglob
functions=(.aws-sam/build/*Function)
[ ${#functions[@]} -eq 4 ] || { log "sam build produced ${#functions[@]} functions, expected 4"; exit 1; }
printf '%-22s %10s  %-7s %-4s %s\n' function bytes linking SNS keys
for dir in "${functions[@]}"; do
  bin="$dir/bootstrap"
  [ -f "$bin" ] || { log "$bin is missing"; exit 1; }
  kind=$(file -b "$bin")
  grep -q 'ELF 64-bit.*ARM aarch64' <<<"$kind" || { log "$bin is not an aarch64 ELF: $kind"; exit 1; }
  # Static: no interpreter and no shared library, so no glibc (whose setenv leaks) can slip back.
  if grep -q 'dynamically linked' <<<"$kind" || objdump -p "$bin" | grep -q NEEDED; then
    log "$bin is dynamically linked ($kind): build it with scripts/build-lambda.sh"; exit 1
  fi
  # The SNS client (its runtime plugin's name) is linked into send-code, and only there.
  sns=no; grep -qa AmazonSimpleNotificationService "$bin" && sns=yes
  want=no; [ "$(basename "$dir")" = SendCodeFunction ] && want=yes
  [ "$sns" = "$want" ] || { log "$bin: SNS client linked: $sns, expected $want"; exit 1; }
  # The Secrets Manager client (the token keys, read at cold start) is linked into the three
  # functions that sign or check tokens, and not into web.
  keys=no; grep -qa 'secretsmanager' "$bin" && keys=yes
  want_keys=yes; [ "$(basename "$dir")" = WebFunction ] && want_keys=no
  [ "$keys" = "$want_keys" ] || { log "$bin: Secrets Manager client linked: $keys, expected $want_keys"; exit 1; }
  bytes=$(stat -c %s "$bin")
  [ "$bytes" -le "$MAX_BYTES" ] || { log "$bin is $bytes bytes, over the 8 MiB budget"; exit 1; }
  printf '%-22s %10s  %-7s %-4s %s\n' "$(basename "$dir")" "$bytes" static "$sns" "$keys"
done

log "actionlint"
actionlint -color=false
echo "actionlint: no findings in .github/workflows"

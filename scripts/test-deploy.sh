#!/usr/bin/env bash
# Offline test of `make deploy` / `make destroy` (scripts/deploy.sh): with no region set it stops
# before building anything and says why; with a region it runs exactly the expected sam commands,
# non-interactively, for the demo and the production configuration. `sam` and `aws` are stubs on
# PATH that record their arguments; the scripts run in a copy of the repository's Makefile and
# scripts, so nothing touches this checkout's .aws-sam.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/repo/scripts" "$work/bin" "$work/home"
cp Makefile "$work/repo/"
cp scripts/deploy.sh "$work/repo/scripts/"
calls="$work/calls"

# sam: records its arguments; `sam build` leaves a built template as the real one does.
cat >"$work/bin/sam" <<EOF
#!/usr/bin/env bash
echo "sam \$*" >>"$calls"
if [ "\${1:-}" = build ]; then mkdir -p .aws-sam/build && echo "{}" >.aws-sam/build/template.yaml; fi
EOF
# aws: answers `aws configure get region` with \$PROFILE_REGION (nothing, like an unset profile).
cat >"$work/bin/aws" <<EOF
#!/usr/bin/env bash
echo "aws \$*" >>"$calls"
[ "\$*" = "configure get region" ] && [ -n "\${PROFILE_REGION:-}" ] && echo "\$PROFILE_REGION" && exit 0
exit 1
EOF
chmod +x "$work/bin/sam" "$work/bin/aws"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# Runs "$@" in the copy with only the stubs and the basics on PATH and no AWS settings.
run() {
  : >"$calls"
  rm -rf "$work/repo/.aws-sam"
  (cd "$work/repo" && env -i PATH="$work/bin:/usr/bin:/bin" HOME="$work/home" \
    ${PROFILE_REGION:+PROFILE_REGION=$PROFILE_REGION} ${REGION_VARS:-} "$@") >"$work/out" 2>&1
}

expect_calls() { # description, expected lines (the sam calls only)
  local what="$1"; shift
  local actual expected
  actual=$(grep '^sam ' "$calls" || true)
  expected=$(printf '%s\n' "$@")
  if [ "$actual" = "$expected" ]; then pass "$what"; else
    fail "$what"; diff <(echo "$expected") <(echo "$actual") >&2 || true; cat "$work/out" >&2
  fi
  if grep -q -- '--guided' "$calls"; then fail "$what: sam was run with --guided"; fi
}

# 1. No region anywhere: a clear message, a failure, and no sam call at all (not even a build).
if REGION_VARS="" run make -s deploy; then fail "deploy without a region succeeded"; else
  grep -q "no AWS region is set" "$work/out" && pass "deploy without a region stops and says so" ||
    { fail "no region message"; cat "$work/out" >&2; }
fi
grep -q '^sam ' "$calls" && fail "sam ran although no region was set"
grep -q '^aws configure get region' "$calls" && pass "the profile's region was asked for" ||
  fail "the profile's region was not asked for"

# 2. make deploy: the demo (samconfig's default environment), region from AWS_REGION.
REGION_VARS="AWS_REGION=eu-central-1" run make -s deploy || fail "make deploy failed: $(cat "$work/out")"
expect_calls "make deploy builds and deploys the demo in AWS_REGION" \
  "sam build" \
  "sam deploy --config-env default --region eu-central-1 --no-confirm-changeset" \
  "sam list stack-outputs --config-env default --region eu-central-1 --output table"

# 2b. sh's own ENV (a startup file) in the environment does not pick a configuration.
REGION_VARS="AWS_REGION=eu-central-1 ENV=/home/me/.shrc" run make -s deploy || fail "make deploy with sh's ENV failed: $(cat "$work/out")"
grep -q -- "--config-env default" "$calls" && pass "an ENV naming no configuration in the environment means the demo" ||
  fail "ENV from the environment: $(cat "$calls")"

# 3. make deploy ENV=prod, region from AWS_DEFAULT_REGION.
REGION_VARS="AWS_DEFAULT_REGION=eu-west-1" run make -s deploy ENV=prod || fail "make deploy ENV=prod failed: $(cat "$work/out")"
expect_calls "make deploy ENV=prod builds and deploys production in AWS_DEFAULT_REGION" \
  "sam build" \
  "sam deploy --config-env prod --region eu-west-1 --no-confirm-changeset" \
  "sam list stack-outputs --config-env prod --region eu-west-1 --output table"

# 4. AWS_REGION wins over AWS_DEFAULT_REGION, as in the AWS SDKs.
REGION_VARS="AWS_REGION=us-east-1 AWS_DEFAULT_REGION=eu-west-1" run scripts/deploy.sh prod || fail "deploy.sh prod failed"
grep -q -- "--region us-east-1" "$calls" && ! grep -q eu-west-1 "$calls" && pass "AWS_REGION wins over AWS_DEFAULT_REGION" ||
  fail "AWS_REGION did not win: $(cat "$calls")"

# 5. Only the profile knows the region.
PROFILE_REGION=ap-southeast-1 REGION_VARS="" run scripts/deploy.sh demo || fail "deploy.sh with a profile region failed"
expect_calls "the profile's region is passed to sam" \
  "sam build" \
  "sam deploy --config-env default --region ap-southeast-1 --no-confirm-changeset" \
  "sam list stack-outputs --config-env default --region ap-southeast-1 --output table"

# 6. --no-build (CI) deploys what is built and runs no build; without a build it refuses.
REGION_VARS="AWS_REGION=eu-central-1" run scripts/deploy.sh --no-build prod && fail "--no-build without a build succeeded" ||
  { grep -q "nothing built" "$work/out" && pass "--no-build without a build stops and says so" || fail "--no-build message: $(cat "$work/out")"; }
: >"$calls"
mkdir -p "$work/repo/.aws-sam/build" && echo "{}" >"$work/repo/.aws-sam/build/template.yaml"
(cd "$work/repo" && env -i PATH="$work/bin:/usr/bin:/bin" HOME="$work/home" AWS_REGION=eu-central-1 \
  scripts/deploy.sh --no-build prod) >"$work/out" 2>&1 || fail "--no-build prod failed: $(cat "$work/out")"
expect_calls "--no-build prod deploys the earlier build" \
  "sam deploy --config-env prod --region eu-central-1 --no-confirm-changeset" \
  "sam list stack-outputs --config-env prod --region eu-central-1 --output table"

# 7. make destroy ENV=prod, and an unknown configuration.
REGION_VARS="AWS_REGION=eu-central-1" run make -s destroy ENV=prod || fail "make destroy ENV=prod failed"
expect_calls "make destroy ENV=prod deletes the production stack" \
  "sam delete --config-env prod --region eu-central-1"
REGION_VARS="AWS_REGION=eu-central-1" run scripts/deploy.sh staging && fail "an unknown configuration was accepted" ||
  { grep -q "unknown configuration 'staging'" "$work/out" && pass "an unknown configuration is refused" ||
    fail "unknown configuration message: $(cat "$work/out")"; }

[ "$failures" -eq 0 ] || { echo "test-deploy.sh: $failures failure(s)" >&2; exit 1; }
echo "test-deploy.sh: all deploy script checks passed"

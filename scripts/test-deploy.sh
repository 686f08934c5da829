#!/usr/bin/env bash
# Offline test of `make deploy` / `make destroy` (scripts/deploy.sh): with no region set it stops
# before building anything and says why; with a region it runs exactly the expected sam commands,
# non-interactively, for the demo and the production configuration. Production's edge stack goes
# to us-east-1 whatever the API's region, before the API's stack, and its web ACL's ARN reaches
# the API's stack with samconfig's parameters; production then turns on SMS delivery status
# logging with the role its stack made. `sam` and `aws` are stubs on PATH that record their
# arguments and answer what the real ones would; the scripts run in a copy of the repository's
# Makefile, samconfig.toml and scripts, so nothing touches this checkout's .aws-sam.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/repo/scripts" "$work/bin" "$work/home"
cp Makefile samconfig.toml "$work/repo/"
cp scripts/deploy.sh scripts/sms-delivery-logging.sh scripts/venv.sh "$work/repo/scripts/"
calls="$work/calls"
WEB_ACL="arn:aws:wafv2:us-east-1:123456789012:global/webacl/referral-api-prod-edge/0f1e2d3c"
SMS_ROLE="arn:aws:iam::123456789012:role/referral-api-prod-SmsDeliveryStatusRole-AB12CD"

# sam: records its arguments; `sam build` leaves a built template as the real one does; `sam list
# stack-outputs --output json` answers each stack's outputs as the real one prints them.
cat >"$work/bin/sam" <<STUB
#!/usr/bin/env bash
echo "sam \$*" >>"$calls"
if [ "\${1:-}" = build ]; then mkdir -p .aws-sam/build && echo "{}" >.aws-sam/build/template.yaml; fi
if [ "\${1:-} \${2:-}" = "list stack-outputs" ] && [[ " \$* " == *" --output json "* ]]; then
  case " \$* " in
    *" --config-env prod-edge "*) echo '[{"OutputKey": "WebAclArn", "OutputValue": "$WEB_ACL", "Description": "d"}]' ;;
    *" --config-env prod "*) echo '[{"OutputKey": "ApiUrl", "OutputValue": "https://d1.cloudfront.net", "Description": "d"},
      {"OutputKey": "SmsDeliveryStatusRoleArn", "OutputValue": "$SMS_ROLE", "Description": "d"}]' ;;
    *) echo '[]' ;;
  esac
fi
STUB
# aws: answers `aws configure get region` with \$PROFILE_REGION (nothing, like an unset profile);
# accepts the SNS settings.
cat >"$work/bin/aws" <<STUB
#!/usr/bin/env bash
echo "aws \$*" >>"$calls"
[ "\$*" = "configure get region" ] && [ -n "\${PROFILE_REGION:-}" ] && echo "\$PROFILE_REGION" && exit 0
[ "\${1:-} \${2:-}" = "sns set-sms-attributes" ] && exit 0
exit 1
STUB
chmod +x "$work/bin/sam" "$work/bin/aws"
# The same without the AWS CLI.
mkdir -p "$work/bin-no-aws" && cp "$work/bin/sam" "$work/bin-no-aws/"
PROD_OVERRIDES=$(sed -n '/^\[prod\.deploy\.parameters\]/,/^\[/s/^parameter_overrides = "\(.*\)"$/\1/p' samconfig.toml)
[ -n "$PROD_OVERRIDES" ] || { echo "test-deploy.sh: no prod parameter_overrides in samconfig.toml" >&2; exit 1; }

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# Runs "$@" in the copy with only the stubs ($STUBS, default bin) and the basics on PATH and no
# AWS settings.
run() {
  : >"$calls"
  rm -rf "$work/repo/.aws-sam"
  (cd "$work/repo" && env -i PATH="$work/${STUBS:-bin}:/usr/bin:/bin" HOME="$work/home" \
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

# 3. make deploy ENV=prod, region from AWS_DEFAULT_REGION: the build, then the edge in us-east-1,
# its web ACL's ARN read back and handed to production's deploy in eu-west-1 after samconfig's
# parameters, then SMS delivery status logging with the role production's stack made.
REGION_VARS="AWS_DEFAULT_REGION=eu-west-1" run make -s deploy ENV=prod || fail "make deploy ENV=prod failed: $(cat "$work/out")"
expect_calls "make deploy ENV=prod builds, deploys the edge in us-east-1, then production in AWS_DEFAULT_REGION with the edge's ARN" \
  "sam build" \
  "sam deploy --config-env prod-edge --region us-east-1 --no-confirm-changeset" \
  "sam list stack-outputs --config-env prod-edge --region us-east-1 --output json" \
  "sam deploy --config-env prod --region eu-west-1 --no-confirm-changeset --parameter-overrides $PROD_OVERRIDES EdgeWebAclArn=$WEB_ACL" \
  "sam list stack-outputs --config-env prod --region eu-west-1 --output json" \
  "sam list stack-outputs --config-env prod --region eu-west-1 --output table"
grep -qx "aws sns set-sms-attributes --region eu-west-1 --attributes DeliveryStatusIAMRole=$SMS_ROLE,DeliveryStatusSuccessSamplingRate=100" "$calls" &&
  pass "production's SMS delivery status is logged as the stack's role, in its region" ||
  fail "SMS delivery status logging: $(cat "$calls")"
grep -q 'Edge=true' <<<"$PROD_OVERRIDES" && pass "samconfig's prod has the edge" || fail "samconfig's prod has no Edge=true"

# 3b. The demo has no edge, sends no SMS, and needs no AWS CLI.
STUBS=bin-no-aws REGION_VARS="AWS_REGION=eu-central-1" run scripts/deploy.sh demo || fail "demo without aws failed: $(cat "$work/out")"
if grep -q -- 'prod-edge\|us-east-1\|EdgeWebAclArn\|^aws sns' "$calls"; then fail "the demo touched the edge or SNS: $(cat "$calls")"; else
  pass "the demo deploys no edge and no SMS settings, without the AWS CLI"
fi

# 3c. Production without the AWS CLI stops before building anything.
if STUBS=bin-no-aws REGION_VARS="AWS_REGION=eu-central-1" run scripts/deploy.sh prod; then fail "prod without aws succeeded"; else
  grep -q "needs the AWS CLI" "$work/out" && ! grep -q '^sam ' "$calls" && pass "production without the AWS CLI stops before building" ||
    fail "prod without aws: $(cat "$work/out") $(cat "$calls")"
fi

# 4. AWS_REGION wins over AWS_DEFAULT_REGION, as in the AWS SDKs.
REGION_VARS="AWS_REGION=us-east-1 AWS_DEFAULT_REGION=eu-west-1" run scripts/deploy.sh demo || fail "deploy.sh demo failed"
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
expect_calls "--no-build prod deploys the earlier build, its edge first" \
  "sam deploy --config-env prod-edge --region us-east-1 --no-confirm-changeset" \
  "sam list stack-outputs --config-env prod-edge --region us-east-1 --output json" \
  "sam deploy --config-env prod --region eu-central-1 --no-confirm-changeset --parameter-overrides $PROD_OVERRIDES EdgeWebAclArn=$WEB_ACL" \
  "sam list stack-outputs --config-env prod --region eu-central-1 --output json" \
  "sam list stack-outputs --config-env prod --region eu-central-1 --output table"

# 7. make destroy ENV=prod, and an unknown configuration.
REGION_VARS="AWS_REGION=eu-central-1" run make -s destroy ENV=prod || fail "make destroy ENV=prod failed"
expect_calls "make destroy ENV=prod deletes the production stack, then its edge in us-east-1" \
  "sam delete --config-env prod --region eu-central-1" \
  "sam delete --config-env prod-edge --region us-east-1"
REGION_VARS="AWS_REGION=eu-central-1" run scripts/deploy.sh staging && fail "an unknown configuration was accepted" ||
  { grep -q "unknown configuration 'staging'" "$work/out" && pass "an unknown configuration is refused" ||
    fail "unknown configuration message: $(cat "$work/out")"; }

[ "$failures" -eq 0 ] || { echo "test-deploy.sh: $failures failure(s)" >&2; exit 1; }
echo "test-deploy.sh: all deploy script checks passed"

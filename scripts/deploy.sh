#!/usr/bin/env bash
# Builds and deploys one configuration of samconfig.toml, never interactively:
#   scripts/deploy.sh [--no-build] demo|prod     sam build; sam deploy; print the outputs
#   scripts/deploy.sh --destroy demo|prod        sam delete (asks before deleting)
# demo is samconfig's `default` environment, prod its `prod`. The region must be known before
# anything runs: AWS_REGION, else AWS_DEFAULT_REGION, else the profile's (`aws configure get
# region`). It is passed to sam with --region, because the SAM CLI reads AWS_DEFAULT_REGION and
# the profile but not AWS_REGION. --no-build deploys what an earlier `sam build` left in
# .aws-sam/build (CI builds before it has AWS credentials).
#
# A configuration with Edge=true in its parameter_overrides (prod) has an edge: its AWS WAF web
# ACL (deploy/edge.yaml, samconfig environment `<env>-edge`) is deployed first, always in
# us-east-1 (CloudFront reads web ACLs only there), and its WebAclArn output goes to the stack as
# EdgeWebAclArn; --destroy deletes it after the stack. One that sends real SMS (SmsSender=sns)
# then gets the account's SMS delivery status logging (scripts/sms-delivery-logging.sh, which
# needs the AWS CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
export SAM_CLI_TELEMETRY=0

usage() { echo "usage: $0 [--no-build | --destroy] demo|prod" >&2; exit 2; }

action=deploy
case "${1:-}" in
  --no-build) action=deploy-built; shift ;;
  --destroy) action=destroy; shift ;;
esac
[ $# -eq 1 ] || usage
case "$1" in
  demo | default) config_env=default ;;
  prod) config_env=prod ;;
  *) echo "deploy.sh: unknown configuration '$1'; samconfig.toml has demo (default) and prod" >&2; exit 2 ;;
esac

region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
if [ -z "$region" ] && command -v aws >/dev/null 2>&1; then
  region="$(aws configure get region 2>/dev/null || true)"
fi
if [ -z "$region" ]; then
  cat >&2 <<'EOF'
deploy.sh: no AWS region is set, so nothing was built or deployed.
Set one, for example:
  export AWS_REGION=eu-central-1            # or AWS_DEFAULT_REGION
  aws configure set region eu-central-1     # or in your profile (AWS_PROFILE)
EOF
  exit 1
fi

# The configuration's parameter_overrides in samconfig.toml, as one string.
overrides=$(awk -v section="[$config_env.deploy.parameters]" '
  $0 == section { inside = 1; next }
  /^\[/ { inside = 0 }
  inside && /^parameter_overrides *=/ { sub(/^parameter_overrides *= *"/, ""); sub(/"[[:space:]]*$/, ""); print; exit }
' samconfig.toml)
has_override() { [[ " $overrides " == *" $1 "* ]]; }
edge_env=""
has_override Edge=true && edge_env="$config_env-edge"
EDGE_REGION=us-east-1
sends_sms=""
has_override SmsSender=sns && sends_sms=1
if [ "$action" != destroy ] && [ -n "$sends_sms" ] && ! command -v aws >/dev/null 2>&1; then
  echo "deploy.sh: '$1' sends real SMS and needs the AWS CLI (aws) for the SMS delivery status settings; install it first" >&2
  exit 1
fi

echo "deploy.sh: $action $1 (samconfig environment '$config_env') in $region${edge_env:+, its edge in $EDGE_REGION}" >&2
case "$action" in
  deploy | deploy-built)
    [ "$action" = deploy-built ] || sam build
    [ -f .aws-sam/build/template.yaml ] || { echo "deploy.sh: nothing built in .aws-sam/build; run sam build first" >&2; exit 1; }
    edge_args=()
    if [ -n "$edge_env" ]; then
      sam deploy --config-env "$edge_env" --region "$EDGE_REGION" --no-confirm-changeset
      web_acl=$(sam list stack-outputs --config-env "$edge_env" --region "$EDGE_REGION" --output json |
        python3 -c 'import json, sys
print(next(o["OutputValue"] for o in json.load(sys.stdin) if o["OutputKey"] == "WebAclArn"))')
      [ -n "$web_acl" ] || { echo "deploy.sh: the edge stack has no WebAclArn output" >&2; exit 1; }
      # --parameter-overrides replaces samconfig's list, so it is the list plus the ARN.
      edge_args=(--parameter-overrides "$overrides EdgeWebAclArn=$web_acl")
    fi
    sam deploy --config-env "$config_env" --region "$region" --no-confirm-changeset "${edge_args[@]}"
    [ -z "$sends_sms" ] || scripts/sms-delivery-logging.sh "$config_env" "$region"
    sam list stack-outputs --config-env "$config_env" --region "$region" --output table
    ;;
  destroy)
    sam delete --config-env "$config_env" --region "$region"
    # After the stack: its distribution uses the web ACL until it is gone.
    [ -z "$edge_env" ] || sam delete --config-env "$edge_env" --region "$EDGE_REGION"
    ;;
esac

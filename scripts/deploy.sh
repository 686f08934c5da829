#!/usr/bin/env bash
# Builds and deploys one configuration of samconfig.toml, never interactively:
#   scripts/deploy.sh [--no-build] demo|prod     sam build; sam deploy; print the outputs
#   scripts/deploy.sh --destroy demo|prod        sam delete (asks before deleting)
# demo is samconfig's `default` environment, prod its `prod`. The region must be known before
# anything runs: AWS_REGION, else AWS_DEFAULT_REGION, else the profile's (`aws configure get
# region`). It is passed to sam with --region, because the SAM CLI reads AWS_DEFAULT_REGION and
# the profile but not AWS_REGION. --no-build deploys what an earlier `sam build` left in
# .aws-sam/build (CI builds before it has AWS credentials).
set -euo pipefail
cd "$(dirname "$0")/.."
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

echo "deploy.sh: $action $1 (samconfig environment '$config_env') in $region" >&2
case "$action" in
  deploy | deploy-built)
    [ "$action" = deploy-built ] || sam build
    [ -f .aws-sam/build/template.yaml ] || { echo "deploy.sh: nothing built in .aws-sam/build; run sam build first" >&2; exit 1; }
    sam deploy --config-env "$config_env" --region "$region" --no-confirm-changeset
    sam list stack-outputs --config-env "$config_env" --region "$region" --output table
    ;;
  destroy)
    sam delete --config-env "$config_env" --region "$region"
    ;;
esac

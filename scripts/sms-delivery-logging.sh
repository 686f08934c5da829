#!/usr/bin/env bash
# Turns on Amazon SNS's SMS delivery status logging for the account in a region, as the role the
# stack made for it (output SmsDeliveryStatusRoleArn; template.yaml, SmsDeliveryStatusRole):
#   scripts/sms-delivery-logging.sh SAMCONFIG_ENV REGION
# An account-level SNS setting, not a property of any CloudFormation resource, hence a script;
# `make deploy ENV=prod` (scripts/deploy.sh) runs it after each deploy. Idempotent. SNS then logs
# each SMS's fate to CloudWatch Logs (sns/REGION/ACCOUNT/DirectPublishToPhoneNumber, and
# .../Failure for failed ones), which it creates; docs/deploy.md shows how to read them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
[ $# -eq 2 ] || { echo "usage: $0 SAMCONFIG_ENV REGION" >&2; exit 2; }
config_env=$1 region=$2

role=$(sam list stack-outputs --config-env "$config_env" --region "$region" --output json |
  python3 -c 'import json, sys
print(next((o["OutputValue"] for o in json.load(sys.stdin) if o["OutputKey"] == "SmsDeliveryStatusRoleArn"), ""))')
if [ -z "$role" ]; then
  echo "sms-delivery-logging.sh: the stack has no SmsDeliveryStatusRoleArn output (it sends no real SMS); nothing to do" >&2
  exit 0
fi
# Every delivery logged, not a sample: an SMS costs far more than its log line.
aws sns set-sms-attributes --region "$region" \
  --attributes "DeliveryStatusIAMRole=$role,DeliveryStatusSuccessSamplingRate=100"
echo "sms-delivery-logging.sh: SNS logs SMS delivery status in $region as $role" >&2

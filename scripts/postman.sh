#!/usr/bin/env bash
# Runs the Postman collection with newman against $API_URL, twice: the second run proves the
# collection can be repeated on the same stack (it makes fresh phone numbers each time).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${API_URL:?run through scripts/with-stack.sh, which starts the API}"
for run in 1 2; do
  echo "newman run $run against $API_URL"
  npx --no-install newman run postman/referral-api.postman_collection.json \
    --environment postman/local.postman_environment.json \
    --env-var "base_url=$API_URL" \
    --reporters cli --color off --disable-unicode
done

#!/usr/bin/env bash
# Runs the Postman collection with newman against $API_URL, twice: the second run proves the
# collection can be repeated on the same stack (it makes fresh phone numbers each time).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${API_URL:?run through scripts/with-stack.sh, which starts the API}"
# Without an environment the collection targets `make dev`'s address; the local environment agrees.
node -e '
  const c = require("./postman/referral-api.postman_collection.json");
  const e = require("./postman/local.postman_environment.json");
  const own = (c.variable || []).find(v => v.key === "base_url");
  const local = e.values.find(v => v.key === "base_url");
  if (!own || own.value !== "http://127.0.0.1:9000" || local.value !== own.value) {
    console.error("postman: the collection needs base_url http://127.0.0.1:9000, as the local environment has");
    process.exit(1);
  }'
for run in 1 2; do
  echo "newman run $run against $API_URL"
  npx --no-install newman run postman/referral-api.postman_collection.json \
    --environment postman/local.postman_environment.json \
    --env-var "base_url=$API_URL" \
    --reporters cli --color off --disable-unicode
done

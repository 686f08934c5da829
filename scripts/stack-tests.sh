#!/usr/bin/env bash
# The tests that need the whole local stack, run through scripts/with-stack.sh: the Postman
# collection (newman), the contract tests against the OpenAPI document (schemathesis), and the
# page and docs in a real browser (playwright-core + Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${API_URL:?run through scripts/with-stack.sh, which starts the API}"
scripts/postman.sh
scripts/contract.sh
node --test tests/browser/

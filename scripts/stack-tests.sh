#!/usr/bin/env bash
# The tests that need the whole local stack, run through scripts/with-stack.sh: the Postman
# collection (newman), the contract tests on the OpenAPI document (Redocly, Spectral, schemathesis), and the
# page and docs in a real browser (playwright-core + Chromium), `cargo lambda invoke` with the
# events in events/, send-code from 300 distinct client addresses in one hour
# (scripts/many-clients.sh), and the smoke test `make smoke` runs against a deployed stack, in both
# of its modes (the local stack returns codes, like the demo); then the metric lines the functions
# wrote meanwhile, checked against the EMF specification.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${API_URL:?run through scripts/with-stack.sh, which starts the API}"
scripts/postman.sh
scripts/contract.sh
node --test tests/browser/
scripts/invoke-tests.sh
scripts/many-clients.sh
DEMO=0 scripts/smoke.sh "$API_URL"
DEMO=1 scripts/smoke.sh "$API_URL"
# The metric lines the functions wrote during all of the above: whole, and valid EMF.
cargo run --quiet -p xtask -- check-metrics "${API_LOG:?run through scripts/with-stack.sh}"

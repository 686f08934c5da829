#!/usr/bin/env bash
# Prints an access token for PHONE (default +79991234567) from the local stack of `make dev`:
# the user is found, or created as a first login would, in DynamoDB Local at
# DYNAMODB_ENDPOINT, and the token is signed with the same JWT_SECRET `make dev` uses.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export DYNAMODB_ENDPOINT="${DYNAMODB_ENDPOINT:-http://127.0.0.1:${DYNAMODB_PORT:-8000}}"
export JWT_SECRET="${JWT_SECRET:-$DEV_JWT_SECRET}"
cargo run --quiet -p xtask -- event-token "${PHONE:-+79991234567}"

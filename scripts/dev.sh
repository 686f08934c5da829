#!/usr/bin/env bash
# `make dev`: DynamoDB Local plus every function behind `cargo lambda watch`, on the same paths as
# API Gateway, at http://127.0.0.1:$API_PORT. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

API_PORT="${API_PORT:-9000}"
DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
LAMBDA_CONCURRENCY="${LAMBDA_CONCURRENCY:-4}"
# A development secret, so `make dev` works out of the box; never used outside this machine.
export JWT_SECRET="${JWT_SECRET:-$DEV_JWT_SECRET}"
export RUST_LOG="${RUST_LOG:-info}"
relax_client_limits

trap stop_dynamodb EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_dynamodb
log "API at http://127.0.0.1:$API_PORT (EXPOSE_CODES=${EXPOSE_CODES:-false}, SMS_DELAY_MS=${SMS_DELAY_MS:-1000-2000})"
cargo lambda watch -A 127.0.0.1 -P "$API_PORT" --concurrency "$LAMBDA_CONCURRENCY"

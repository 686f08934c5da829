#!/usr/bin/env bash
# Runs a command against the whole local stack (DynamoDB Local + every function behind
# `cargo lambda watch`, and moto's SNS server when WITH_SNS=1) on free ports, with API_URL set;
# stops them all by PID afterwards.
# Demo settings unless the caller overrides them: codes in responses, no SMS delay.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DYNAMODB_PORT="$(free_port)"
export API_PORT="$(free_port)"
export JWT_SECRET="${JWT_SECRET:-local-test-secret-not-for-production-use}"
export SMS_DELAY_MS="${SMS_DELAY_MS:-0}" EXPOSE_CODES="${EXPOSE_CODES:-true}"
relax_client_limits
export API_LOG="$PWD/target/with-stack.log"
mkdir -p target
trap 'stop_command; stop_api; stop_moto; stop_dynamodb' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_dynamodb
[ -z "${WITH_SNS:-}" ] || MOTO_LOG="$PWD/target/moto.log" start_moto
start_api
run_and_wait "$@"

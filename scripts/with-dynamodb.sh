#!/usr/bin/env bash
# Runs a command against a fresh in-memory DynamoDB Local with the tables of template.yaml and
# moto's SNS emulator, then stops both (by PID) whatever the command's outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DYNAMODB_PORT="${TEST_DYNAMODB_PORT:-$(free_port)}"
trap 'stop_command; stop_moto; stop_dynamodb' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_dynamodb
MOTO_LOG="$PWD/target/moto.log" start_moto
run_and_wait "$@"

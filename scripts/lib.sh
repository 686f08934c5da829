# Shared by the scripts: versions, paths, and starting and stopping DynamoDB Local.
# shellcheck shell=bash
source scripts/venv.sh
DDB_PACKAGE="amplify-dynamodb-simulator@2.9.30"
DDB_DIR="$PWD/.cache/dynamodb-local"
# Signs tokens on this machine only (make dev, event tokens); deployed stacks generate their own.
DEV_JWT_SECRET="local-development-secret-not-for-production"

# DynamoDB Local runs with -sharedDb, so every client (cargo lambda, sam local's containers, the
# tests) sees one database whatever credentials and region it signs with.
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION="${AWS_REGION:-us-east-1}"
unset AWS_PROFILE AWS_SESSION_TOKEN

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # port, seconds, pid of the process that should be listening
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || { log "the process meant to listen on $1 (pid $3) has exited"; return 1; }
    [ $SECONDS -lt $deadline ] || { log "nothing listens on 127.0.0.1:$1 after $2 s"; return 1; }
    sleep 0.2
  done
}

# Starts DynamoDB Local in memory on 127.0.0.1:$DYNAMODB_PORT, sets DDB_PID and
# DYNAMODB_ENDPOINT, and creates the tables from template.yaml.
start_dynamodb() {
  java -Djava.library.path="$DDB_DIR/DynamoDBLocal_lib" -jar "$DDB_DIR/DynamoDBLocal.jar" \
    -inMemory -sharedDb -port "$DYNAMODB_PORT" -disableTelemetry >"${DDB_LOG:-/dev/null}" 2>&1 &
  DDB_PID=$!
  export DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT"
  wait_for_port "$DYNAMODB_PORT" 60 "$DDB_PID"
  log "DynamoDB Local (pid $DDB_PID) at $DYNAMODB_ENDPOINT"
  cargo run --quiet -p xtask -- create-tables >&2
}

# Runs "$@" in the background and waits for it, so a TERM or Ctrl-C reaches the traps at once
# (bash defers traps while a foreground command runs); the traps stop it too.
run_and_wait() {
  "$@" &
  CMD_PID=$!
  wait "$CMD_PID"
}

stop_command() {
  if [ -n "${CMD_PID:-}" ] && kill -0 "$CMD_PID" 2>/dev/null; then
    kill "$CMD_PID" 2>/dev/null || true
  fi
}

stop_dynamodb() {
  if [ -n "${DDB_PID:-}" ] && kill -0 "$DDB_PID" 2>/dev/null; then
    kill "$DDB_PID" 2>/dev/null || true
    wait "$DDB_PID" 2>/dev/null || true
  fi
}

# Starts moto's server (tests/sns/moto_sns.py) in the background; sets MOTO_PID and exports
# MOTO_SNS_ENDPOINT (the SNS API), MOTO_SMS_URL (the SMS it accepted, as JSON) and
# MOTO_SECRETS_ENDPOINT (Secrets Manager: the same server, which answers every service).
start_moto() {
  local sns_port sms_port
  sns_port="$(free_port)"
  sms_port="$(free_port)"
  python3 tests/sns/moto_sns.py "$sns_port" "$sms_port" >"${MOTO_LOG:-/dev/null}" 2>&1 &
  MOTO_PID=$!
  export MOTO_SNS_ENDPOINT="http://127.0.0.1:$sns_port" MOTO_SMS_URL="http://127.0.0.1:$sms_port/"
  export MOTO_SECRETS_ENDPOINT="$MOTO_SNS_ENDPOINT"
  wait_for_port "$sns_port" 60 "$MOTO_PID"
  wait_for_port "$sms_port" 60 "$MOTO_PID"
  log "moto SNS and Secrets Manager (pid $MOTO_PID) at $MOTO_SNS_ENDPOINT"
}

stop_moto() {
  if [ -n "${MOTO_PID:-}" ] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
}

# Starts every function under `cargo lambda watch` in the background, in its own process group,
# on 127.0.0.1:$API_PORT; sets API_PID and API_URL.
start_api() {
  # No hot reload: files the tests write must not restart the functions mid-run.
  setsid cargo lambda watch --ignore-changes ${LAMBDA_RELEASE:+--release} -A 127.0.0.1 -P "$API_PORT" \
    --concurrency "${LAMBDA_CONCURRENCY:-4}" \
    >"${API_LOG:-/dev/null}" 2>&1 </dev/null &
  API_PID=$!
  export API_URL="http://127.0.0.1:$API_PORT"
  wait_for_port "$API_PORT" 120 "$API_PID"
  log "functions (cargo lambda watch, pid $API_PID) at $API_URL"
}

stop_api() {
  if [ -n "${API_PID:-}" ] && kill -0 "$API_PID" 2>/dev/null; then
    kill -TERM -- "-$API_PID" 2>/dev/null || true
    wait "$API_PID" 2>/dev/null || true
  fi
}

# Local runs see one source address (127.0.0.1) for every request, so the per-client and
# per-range limits and the SMS budget would stop a developer or a test suite within minutes. They start out of reach
# here; set them in the environment to try them (e.g. IP_MAX_SENDS_PER_HOUR=3 make dev).
relax_client_limits() {
  export IP_MAX_SENDS_PER_HOUR="${IP_MAX_SENDS_PER_HOUR:-1000000}"
  export IP_MAX_FAILURES_PER_HOUR="${IP_MAX_FAILURES_PER_HOUR:-1000000}"
  export IP_RANGE_MAX_SENDS_PER_HOUR="${IP_RANGE_MAX_SENDS_PER_HOUR:-5000000}"
  export IP_RANGE_MAX_FAILURES_PER_HOUR="${IP_RANGE_MAX_FAILURES_PER_HOUR:-5000000}"
  export SMS_BUDGET_PER_HOUR="${SMS_BUDGET_PER_HOUR:-1000000}"
  export SMS_BUDGET_PER_DAY="${SMS_BUDGET_PER_DAY:-24000000}"
}

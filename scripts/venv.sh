# The project's Python tools (SAM CLI, cfn-lint, cargo-lambda, actionlint, schemathesis, moto, the
# aws CLI), which `make setup` installs into .venv, come first on PATH, ahead of any system-wide
# copy. Sourced from the repository root by every script that runs one. When .venv/bin is already
# on PATH (make puts it there) it is left where it is, so a test's stub placed in front still wins.
# shellcheck shell=bash
case ":$PATH:" in
  *":$PWD/.venv/bin:"*) ;;
  *) export PATH="$PWD/.venv/bin:$PATH" ;;
esac

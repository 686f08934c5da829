# The commands README documents. `make test` is what CI runs.
SHELL := /bin/bash
.PHONY: setup dev test lint unit

## setup: install Java, DynamoDB Local, cargo-lambda and cargo-nextest where missing
setup:
	scripts/setup.sh

## dev: DynamoDB Local + all functions at http://127.0.0.1:$${API_PORT:-9000}
dev: setup
	scripts/dev.sh

## lint: formatting and clippy, warnings are errors
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## unit: the tests that need no database
unit:
	cargo nextest run --workspace --lib --bins

## test: lint, then every test (unit, in-process API against DynamoDB Local, end-to-end over HTTP)
test: setup lint
	scripts/with-dynamodb.sh cargo nextest run --workspace --no-fail-fast

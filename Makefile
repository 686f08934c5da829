# The commands README documents. `make test` is what CI runs.
SHELL := /bin/bash
STACK ?= referral-api
PHONE ?= +79991234567
.PHONY: setup dev test lint unit postman bench check-deploy deploy destroy event-token

## setup: install Java, DynamoDB Local, cargo-lambda, SAM CLI, cfn-lint, Node tools where missing
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

## test: lint; every Rust test against DynamoDB Local (unit, API, end to end); against a fresh
## local stack the Postman collection (newman), the contract tests (schemathesis) and the browser
## tests (playwright-core + Chromium); then the deploy checks
test: setup lint
	scripts/with-dynamodb.sh cargo nextest run --workspace --no-fail-fast
	OTP_RESEND_SECONDS=1 scripts/with-stack.sh scripts/stack-tests.sh
	scripts/check-deploy.sh

## postman: run the Postman collection with newman against a fresh local stack
postman: setup
	OTP_RESEND_SECONDS=1 scripts/with-stack.sh scripts/postman.sh

## bench: sizes, cold starts, latency, memory, DynamoDB calls and a loopback load; writes bench/results.md
bench: setup
	cargo build --release -p send-code -p verify-code -p profile -p web -p xtask
	cargo lambda build --release --arm64 -p send-code -p verify-code -p profile -p web
	LAMBDA_RELEASE=1 scripts/with-stack.sh target/release/xtask bench --out bench/results.md

## check-deploy: cfn-lint, sam validate, sam build (arm64 bootstraps for AL2023), actionlint
check-deploy: setup
	scripts/check-deploy.sh

## deploy: sam build + sam deploy; asks its questions the first time when run in a terminal
deploy:
	sam build
	@if [ -t 0 ] && ! sam list stack-outputs --stack-name $(STACK) >/dev/null 2>&1; then \
		sam deploy --guided --stack-name $(STACK); \
	else \
		sam deploy --stack-name $(STACK); \
	fi
	@sam list stack-outputs --stack-name $(STACK) --output table

## event-token: print an access token for PHONE (default +79991234567) against `make dev`
event-token:
	@PHONE='$(PHONE)' scripts/event-token.sh

## destroy: delete the stack (the users and uniques tables are kept, see README)
destroy:
	sam delete --stack-name $(STACK)

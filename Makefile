# The commands README documents. `make test` is what CI runs.
SHELL := /bin/bash
# The Python tools (SAM CLI, cfn-lint, cargo-lambda, schemathesis, moto, ...) run from the project's
# .venv, which `make setup` fills (scripts/setup.sh), never from the system Python.
export PATH := $(CURDIR)/.venv/bin:$(PATH)
PHONE ?= +79991234567
# Which samconfig.toml configuration deploy, destroy and smoke use: demo (codes returned, no SMS)
# or prod (real SMS through Amazon SNS, codes never returned).
ENV ?= demo
# The Lambda architecture of this machine: the soak and the bench run the deployed build for it.
NATIVE_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
# sh also uses ENV (its startup file): an ENV from the environment counts only if it names one.
ifeq ($(origin ENV),environment)
ifeq ($(filter demo prod,$(ENV)),)
override ENV := demo
endif
endif
.PHONY: setup dev test lint unit postman bench profile check-deploy deploy destroy rotate-secret smoke event-token \
  soak build-SendCodeFunction build-VerifyCodeFunction build-ProfileFunction build-WebFunction

## setup: install Java, DynamoDB Local, Node tools where missing; the Python tools (cargo-lambda, SAM
## CLI, cfn-lint, moto, schemathesis) into .venv
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
## local stack the Postman collection (newman), the contract tests (Redocly and Spectral lint the
## served OpenAPI document, schemathesis runs every check against it) and the browser
## tests (playwright-core + Chromium); then the deploy checks
test: setup lint
	scripts/with-dynamodb.sh cargo nextest run --workspace --no-fail-fast
	OTP_RESEND_SECONDS=1 scripts/with-stack.sh scripts/stack-tests.sh
	$(MAKE) soak
	scripts/check-deploy.sh

## soak: each function built as deployed (musl), for this machine, answers 50,000 invocations with
## fresh trace ids; fails if its resident memory grows by over 1 MiB after the first 5,000
soak: setup
	scripts/build-lambda.sh $(NATIVE_ARCH) send-code verify-code profile web
	cargo run --quiet -p perf -- soak target/lambda/$(NATIVE_ARCH)

## postman: run the Postman collection with newman against a fresh local stack
postman: setup
	OTP_RESEND_SECONDS=1 scripts/with-stack.sh scripts/postman.sh

## bench: sizes, cold starts, latency, memory, DynamoDB calls and a loopback load; writes bench/results.md
# The functions and perf are built apart: built together, cargo would unify perf's test helpers
# (shared's feature `testing`) into the functions, and they would differ from what sam deploys.
bench: setup
	cargo build --release -p send-code -p verify-code -p profile -p web
	cargo build --release -p perf
	scripts/build-lambda.sh arm64 send-code verify-code profile web
	scripts/build-lambda.sh $(NATIVE_ARCH) send-code verify-code profile web
	FUNCTION_BINARIES=target/lambda/$(NATIVE_ARCH) LAMBDA_RELEASE=1 WITH_SNS=1 \
	  scripts/with-stack.sh target/release/perf bench --out bench/results.md

## profile: where one function's CPU goes, perf samples of its cold start + first answer and of 1000
## warm requests (FUNCTION=send-code|verify-code|profile|web, or send-code-sns: send-code publishing
## each SMS through moto's SNS server, as production sends); files in target/profiling/perf
FUNCTION ?= profile
PROFILING_TARGET ?= target/profiling
profile: setup
	CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=false \
	  cargo build --release --target-dir $(PROFILING_TARGET) -p $(FUNCTION:-sns=)
	cargo build --release --target-dir $(PROFILING_TARGET) -p perf
	BENCH_BINARIES=$(PROFILING_TARGET)/release scripts/with-dynamodb.sh \
	  $(PROFILING_TARGET)/release/perf profile $(FUNCTION) --out $(PROFILING_TARGET)/perf

## check-deploy: cfn-lint and sam validate on every template, the SAM-transformed template and the
## deploy role (scripts/check-templates.py), deploy.sh with a stub sam and aws, import template
## lint, sam build (arm64 bootstraps for AL2023), actionlint
check-deploy: setup
	scripts/check-deploy.sh

## deploy: sam build + sam deploy of the demo, or of production with ENV=prod (its edge's web ACL
## first, in us-east-1); never asks questions (everything is in samconfig.toml); needs an AWS region
## (AWS_REGION, AWS_DEFAULT_REGION or profile)
deploy:
	scripts/deploy.sh $(ENV)

## rotate-secret: a new token signing key for the deployed stack (ENV=demo|prod); tokens signed
## with the old one keep working (docs/secrets.md)
rotate-secret:
	scripts/rotate-secret.sh $(ENV)

## smoke: check a deployed API, URL=https://... (ENV=prod: no real SMS is sent; demo: runs Postman)
smoke: setup
	@[ -n "$(URL)" ] || { echo "usage: make smoke URL=<the stack's ApiUrl> [ENV=prod]" >&2; exit 2; }
	DEMO=$(if $(filter prod,$(ENV)),0,1) scripts/smoke.sh '$(URL)'

## event-token: print an access token for PHONE (default +79991234567) against `make dev`
event-token:
	@PHONE='$(PHONE)' scripts/event-token.sh

## build-<Function>: what `sam build` runs for each function (template.yaml: BuildMethod: makefile)
build-SendCodeFunction:
	scripts/build-lambda.sh arm64 send-code
build-VerifyCodeFunction:
	scripts/build-lambda.sh arm64 verify-code
build-ProfileFunction:
	scripts/build-lambda.sh arm64 profile
build-WebFunction:
	scripts/build-lambda.sh arm64 web

## destroy: delete the demo stack, or production and its edge with ENV=prod (users and uniques tables
## are kept, and production's logs)
destroy:
	scripts/deploy.sh --destroy $(ENV)

#!/usr/bin/env bash
# Contract tests: schemathesis generates requests for every operation in the served OpenAPI
# document and checks that no answer is a server error, that every status code and content type
# is documented, and that every body matches its schema. Authenticated operations get a real
# token (one login through the API itself). The generous request timeout covers the emulator
# building a function the first time one of its instances starts.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${API_URL:?run through scripts/with-stack.sh, which starts the API}"

token=$(python3 - "$API_URL" <<'PY'
import json, random, sys, urllib.request

base = sys.argv[1]
def post(path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.load(resp)

phone = "+7999%07d" % random.randrange(10**7)
code = post("/v1/auth/send-code", {"phone": phone})["code"]
print(post("/v1/auth/verify-code", {"phone": phone, "code": code})["access_token"])
PY
)

mkdir -p target/schemathesis
# The served document must be valid OpenAPI 3.1 before anything is generated from it.
curl -sf "$API_URL/openapi.json" -o target/openapi.json
openapi-spec-validator target/openapi.json
export PYTHONPATH="$PWD/tests/contract${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=hooks
# Logout would revoke the token the other operations use; it runs last, on its own.
run() {
  schemathesis run "$API_URL/openapi.json" --url "$API_URL" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-40}" --generation-deterministic --generation-codec utf-8 --request-timeout 60 \
    --report-dir target/schemathesis --no-color "$@"
}
run --exclude-operation-id logout
run --include-operation-id logout

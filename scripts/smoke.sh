#!/usr/bin/env bash
# Checks a running API from the outside: `scripts/smoke.sh URL` (make smoke URL=... [ENV=prod]).
#   - /docs, ReDoc's script and /openapi.json load, with the right content types (and / as well);
#   - a path no route matches gets a problem+json 404 (API Gateway's $default route -> web);
#   - send-code answers an invalid phone with a problem+json 400 (sends nothing anywhere).
# With DEMO=1 (the demo configuration) also: send-code answers a valid phone with 200 and the code
# in the body (which proves demo mode), and the whole Postman collection runs against URL.
# Without DEMO=1 no valid phone is ever sent, so production sends no real SMS.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: [DEMO=1] $0 <base URL, e.g. the stack's ApiUrl>" >&2; exit 2; }
url="${1%/}"
demo="${DEMO:-0}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# request METHOD PATH [JSON body]: sets status and ctype; the body lands in $work/body.
request() {
  local args=(-sS --max-time 30 -X "$1" -o "$work/body" -D "$work/headers" -w '%{http_code}')
  # GETs are retried on a transient error (timeout, 429, 5xx: a cold start); POSTs never are.
  [ "$1" != GET ] || args+=(--retry 2 --retry-delay 1)
  [ $# -lt 3 ] || args+=(-H 'content-type: application/json' --data "$3")
  status=$(curl "${args[@]}" "$url$2") || status="000"
  ctype=$(tr -d '\r' <"$work/headers" 2>/dev/null | awk -F': *' 'tolower($1)=="content-type"{print tolower($2)}' | tail -1)
}

# json EXPR: evaluates a Python expression over the body parsed as `b`; prints the result.
json() { python3 -c "import json,sys; b=json.load(open(sys.argv[1])); print($1)" "$work/body" 2>/dev/null; }

expect() { # description, status, content type prefix
  if [ "$status" = "$2" ] && [[ "$ctype" == "$3"* ]]; then pass "$1"; return 0; fi
  fail "$1: got $status ${ctype:-(no content type)}, want $2 $3"
  head -c 300 "$work/body" >&2 2>/dev/null && echo >&2
  return 1
}

echo "smoke test of $url ($([ "$demo" = 1 ] && echo "demo configuration" || echo "production-safe: no valid phone is sent"))"

request GET /docs
if expect "GET /docs is the API reference" 200 text/html; then
  # ReDoc's script comes from the API itself (its versioned path is in the page).
  redoc=$(grep -o 'src="/docs/[^"]*"' "$work/body" | cut -d'"' -f2)
  request GET "${redoc:-/docs/no-script-in-the-page}"
  expect "GET ${redoc:-(no script)} is ReDoc's script" 200 text/javascript || true
fi

request GET /openapi.json
if expect "GET /openapi.json is JSON" 200 application/json; then
  [[ "$(json 'b.get("openapi", "")')" == 3.1* ]] && pass "it is an OpenAPI 3.1 document" ||
    fail "/openapi.json is not an OpenAPI 3.1 document"
fi

request GET /
expect "GET / is the page" 200 text/html || true

unknown="/smoke-no-such-path-$RANDOM"
request GET "$unknown"
if expect "GET $unknown is a 404" 404 application/problem+json; then
  [ "$(json 'b["code"], b["status"]')" = "not_found 404" ] && pass "... with code not_found" ||
    fail "the 404 body is not the API's not_found problem: $(head -c 300 "$work/body")"
fi

request POST /v1/auth/send-code '{"phone": "not a phone"}'
if expect "send-code refuses an invalid phone" 400 application/problem+json; then
  [ "$(json 'b["code"]')" = invalid_phone ] && pass "... with code invalid_phone" ||
    fail "invalid phone answered with $(head -c 300 "$work/body")"
fi

if [ "$demo" = 1 ]; then
  phone="+79$(printf '%09d' $(((RANDOM * 32768 + RANDOM) % 1000000000)))"
  request POST /v1/auth/send-code "{\"phone\": \"$phone\"}"
  if expect "send-code answers a valid phone" 200 application/json; then
    if [[ "$(json 'b.get("code") or ""')" =~ ^[0-9]{4,8}$ ]]; then
      pass "... and returns the code: this is the demo configuration"
      echo "running the Postman collection against $url"
      npx --no-install newman run postman/referral-api.postman_collection.json \
        --env-var "base_url=$url" --reporters cli --color off --disable-unicode ||
        fail "the Postman collection failed against $url"
    else
      fail "no code in the send-code response: this is not the demo configuration (use DEMO=0 / ENV=prod)"
    fi
  fi
else
  echo "(demo checks skipped: DEMO=1, or make smoke without ENV=prod, sends a code and runs Postman)"
fi

[ "$failures" -eq 0 ] || { echo "smoke.sh: $failures check(s) failed against $url" >&2; exit 1; }
echo "smoke.sh: $url passed"

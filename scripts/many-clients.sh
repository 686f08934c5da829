#!/usr/bin/env bash
# send-code from many distinct client addresses in one hour, against the running local stack:
# every one must answer 200 (no counter item grows with the clients of an hour;
# docs/data-model.md). `cargo lambda watch` reports one source address for every HTTP caller, so each request
# is an API Gateway payload 2.0 event with its own `requestContext.http.sourceIp`, handed to
# send-code through the local Lambda Invoke endpoint. The stack's per-address limits and SMS
# budget are far above CLIENTS (scripts/lib.sh, relax_client_limits).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${API_PORT:?run through scripts/with-stack.sh, which starts the API}"
CLIENTS="${CLIENTS:-300}" python3 - <<'PY'
import json, os, random, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

port = os.environ["API_PORT"]
clients = int(os.environ["CLIENTS"])
url = f"http://127.0.0.1:{port}/2015-03-31/functions/send-code/invocations"
# One address each, from a random run of 198.18.0.0/15 (kept for benchmarks, never routed), so a
# second run in the same hour counts on other addresses; one phone each, valid Russian mobile
# numbers (+7 9xx without 930, as the Rust tests draw them).
start = random.randrange((1 << 17) - clients)
addresses = [f"198.{18 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}" for i in range(start, start + clients)]
phones = set()
while len(phones) < clients:
    operator = random.choice([n for n in range(100) if n != 30])
    phones.add(f"+79{operator:02d}{random.randrange(10**7):07d}")

def event(address, phone):
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "POST /v1/auth/send-code",
        "rawPath": "/v1/auth/send-code",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-forwarded-for": address},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": "POST", "path": "/v1/auth/send-code", "protocol": "HTTP/1.1",
                     "sourceIp": address, "userAgent": "many-clients"},
            "requestId": f"many-clients-{address}",
            "routeKey": "POST /v1/auth/send-code",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": json.dumps({"phone": phone}),
        "isBase64Encoded": False,
    }

def send(pair):
    address, phone = pair
    data = json.dumps(event(address, phone)).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    return address, answer.get("statusCode"), answer.get("body")

started = time.monotonic()
with ThreadPoolExecutor(max_workers=8) as pool:
    answers = list(pool.map(send, zip(addresses, sorted(phones))))
elapsed = time.monotonic() - started
failed = [a for a in answers if a[1] != 200]
for address, status, body in failed[:5]:
    print(f"FAIL send-code from {address}: {status} {body}", file=sys.stderr)
if failed:
    print(f"send-code from {clients} addresses: {len(failed)} did not answer 200", file=sys.stderr)
    sys.exit(1)
print(f"send-code from {clients} distinct addresses in one hour: all 200 ({clients / elapsed:.0f}/s)", file=sys.stderr)
PY

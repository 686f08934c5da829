"""Schemathesis hooks for the contract tests.

Formats: the document marks the two strings whose validity no JSON Schema can state with a format
of their own. `phone-input` is a phone number libphonenumber accepts (its metadata, not a
pattern, decides); `referral-cursor` is a `next_cursor` the API issued (it decodes only what it
encoded). The strategies below draw such values, so positive requests are really valid; the
patterns and lengths in the document still bound what is drawn, and negative requests still
break them.

Filters, each for something the local router (`cargo lambda watch`) does before any function
runs, where API Gateway hands the request to a function:
- a body that is not valid UTF-8 gets the router's own 500; shared/tests/api/send_code.rs proves
  the handler answers it with 400;
- a method the router has no entry for gets the router's own 404 (the `unsupported_method`
  check); on AWS the `$default` route hands it to `web`, which answers 405 with `Allow` (tested
  in process in shared/src/api/web.rs).
"""
import base64
import json
import uuid

import schemathesis
from hypothesis import strategies as st

# Russian mobile numbers (DEFAULT_REGION is RU on the local stack) in the spellings people use.
_subscriber = st.integers(min_value=900_000_0000, max_value=999_999_9999).map(str)
_spellings = [
    lambda n: f"+7{n}",
    lambda n: f"7{n}",
    lambda n: f"8 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]}",
    lambda n: f"+7 {n[:3]} {n[3:6]} {n[6:8]} {n[8:]}",
    lambda n: f" 8.{n[:3]}.{n[3:6]}.{n[6:8]}.{n[8:]}\t",
]
schemathesis.openapi.format(
    "phone-input",
    st.tuples(_subscriber, st.sampled_from(_spellings)).map(lambda t: t[1](t[0])),
)


def _cursor(t, u):
    text = json.dumps({"t": t, "u": str(u)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


schemathesis.openapi.format(
    "referral-cursor",
    st.one_of(
        st.just(""),
        st.builds(_cursor, st.integers(min_value=1, max_value=4_102_444_800_000), st.uuids()),
    ),
)


def _is_utf8(body):
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@schemathesis.hook
def filter_body(ctx, body):
    return _is_utf8(body)


@schemathesis.hook
def filter_case(ctx, case):
    return _is_utf8(getattr(case, "body", None))

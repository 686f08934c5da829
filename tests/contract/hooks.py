"""Schemathesis hooks for the contract tests.

Formats: the document marks the two strings whose validity no JSON Schema can state with a format
of their own. `phone-input` is a phone number libphonenumber accepts (its metadata, not a
pattern, decides); `referral-cursor` is a `next_cursor` the API issued (it decodes only what it
encoded). The strategies below draw such values. The coverage phase builds its boundary values
from `pattern` and `maxLength` alone, without the format, so `before_call` gives a positive
request that carries a phone or cursor outside its format one drawn from the format instead:
every request schemathesis calls valid then really is, and positive_data_acceptance judges the
API, not libphonenumber. Negative requests are left alone: they still break pattern and length.

Filter, for something the local router (`cargo lambda watch`) does before any function runs,
where API Gateway hands the request to a function: a body that is not valid UTF-8 gets the
router's own 500; shared/tests/api/send_code.rs proves the handler answers it with 400. (Other
methods on a known path reach `web` locally too, through the router entries in Cargo.toml, and
get its 405 with `Allow`: no filter needed.)
"""
import base64
import json
import random
import re
import uuid

import schemathesis
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation

# Russian mobile numbers (DEFAULT_REGION is RU on the local stack) in the spellings people use:
# +7 9xx without 930, where libphonenumber's metadata leaves some ranges unassigned.
_subscriber = (
    st.integers(min_value=900_000_0000, max_value=999_999_9999)
    .map(str)
    .filter(lambda n: not n.startswith("930"))
)
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


_RU_MOBILE = re.compile(r"^(\+7|7|8)9(?!30)[0-9]{9}$")
_TRIMMED = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _is_phone(text):
    """A spelling of a Russian mobile number: what `phone-input` draws."""
    if not isinstance(text, str):
        return False
    compact = "".join(c for c in text.strip(_TRIMMED) if c not in " ()-.")
    return bool(_RU_MOBILE.match(compact))


def _is_cursor(text):
    """What the API's `cursor::decode` accepts: empty, or base64url JSON with t > 0 and a UUID."""
    if text == "":
        return True
    if not isinstance(text, str) or len(text) > 128 or "=" in text:
        return False
    try:
        wire = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return (
            isinstance(wire.get("t"), int)
            and not isinstance(wire.get("t"), bool)
            and wire["t"] > 0
            and str(uuid.UUID(wire["u"])) == wire["u"]
        )
    except Exception:
        return False


_random = random.Random(15)


def _draw_phone():
    n = "930"
    while n.startswith("930"):
        n = str(_random.randrange(900_000_0000, 999_999_9999 + 1))
    return _random.choice(_spellings)(n)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    body = case.body
    if isinstance(body, dict) and "phone" in body and not meta.is_negative_at(ParameterLocation.BODY):
        if not _is_phone(body["phone"]):
            body["phone"] = _draw_phone()
    query = case.query
    if isinstance(query, dict) and "cursor" in query and not meta.is_negative_at(ParameterLocation.QUERY):
        if not _is_cursor(query["cursor"]):
            query["cursor"] = _cursor(_random.randrange(1, 4_102_444_800_000), uuid.UUID(int=_random.getrandbits(128)))


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

"""Schemathesis hooks for the contract tests.

`cargo lambda watch`, the local API Gateway emulator, answers 500 by itself (before any function
runs) to a body that is not valid UTF-8, where API Gateway would hand it to the function. Such
bodies are skipped here; shared/tests/api/send_code.rs proves the handler answers them with 400.
"""
import schemathesis


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

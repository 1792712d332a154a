"""Standard Webhooks signing and the public verify helper."""

from __future__ import annotations

import base64

import pytest

import pgtask
from pgtask.signing import SigningSecret
from pgtask.worker.http.config import HttpConfig

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
BODY = b'{"id":1,"payload":{"x":1}}'
NOW = 1_700_000_000


def signed(secrets, body=BODY, ts=NOW):
    return pgtask.sign_webhook("task_1", body, secrets, timestamp=ts)


def test_signature_verifies_with_the_public_helper():
    headers = signed(NEW)
    assert pgtask.verify_signature(BODY, headers, NEW, now=NOW) == "task_1"
    assert headers["webhook-signature"].startswith("v1,")
    # Header names are case-insensitive for receivers holding a plain dict.
    upper = {k.title(): v for k, v in headers.items()}
    assert pgtask.verify_signature(BODY.decode(), upper, NEW, now=NOW + 10) == "task_1"


def test_known_vector_matches_the_standard_webhooks_spec():
    # The example from the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    headers = pgtask.sign_webhook("msg_p5jXN8AQM9LWM0D4loKWxJek", body, secret,
                                  timestamp=1614265330)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("change", ["body", "secret", "old", "future", "id", "garbled"])
def test_verification_fails(change):
    headers = signed(NEW)
    body, secret, now = BODY, NEW, NOW
    if change == "body":
        body = BODY.replace(b'"x":1', b'"x":2')
    elif change == "secret":
        secret = OLD
    elif change == "old":
        now = NOW + 301
    elif change == "future":
        now = NOW - 301
    elif change == "id":
        headers["webhook-id"] = "task_2"
    else:
        headers["webhook-signature"] = "v1,notbase64 v2,whatever"
    with pytest.raises(pgtask.InvalidSignature):
        pgtask.verify_signature(body, headers, secret, now=now)


def test_missing_header_is_named():
    headers = signed(NEW)
    del headers["webhook-timestamp"]
    with pytest.raises(pgtask.InvalidSignature, match="webhook-timestamp"):
        pgtask.verify_signature(BODY, headers, NEW, now=NOW)


def test_rotation_signs_with_both_secrets_and_either_verifies():
    headers = signed([NEW, OLD])
    assert len(headers["webhook-signature"].split()) == 2
    assert pgtask.verify_signature(BODY, headers, OLD, now=NOW)  # receiver not yet rotated
    assert pgtask.verify_signature(BODY, headers, NEW, now=NOW)  # receiver already rotated
    # A receiver mid-rotation accepts a sender still on the old secret alone.
    assert pgtask.verify_signature(BODY, signed(OLD), [NEW, OLD], now=NOW)


def test_secret_never_shows_in_repr_or_errors():
    secret = SigningSecret.parse(NEW)
    config = HttpConfig(secrets=(secret,), headers={"authorization": "Bearer s3cr3t-token"})
    for text in (repr(secret), str(secret), repr(config)):
        assert NEW[6:] not in text and "s3cr3t" not in text
    with pytest.raises(ValueError) as info:
        SigningSecret.parse("whsec_not*base64!")
    assert "not*base64" not in str(info.value)


def test_new_secret_round_trips():
    secret = pgtask.new_secret()
    assert secret.startswith("whsec_")
    assert pgtask.verify_signature(b"x", pgtask.sign_webhook("m", b"x", secret, timestamp=NOW),
                                   secret, now=NOW)

"""pgtask's webhook signatures against `standardwebhooks`, the scheme's reference library: a
request the worker signs verifies with the reference, a reference-signed message verifies with
pgtask.verify_signature, both during a secret rotation, and both refuse an altered body or
timestamp."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from pgtask import InvalidSignature, new_secret, sign_webhook, verify_signature
from pgtask.models import ClaimedTask
from pgtask.signing import SigningSecret
from pgtask.worker.http.request import build_body, build_headers, webhook_id

MSG_ID = "task_42_8d7c6b5a-0000-4000-8000-000000000001"
# Non-ASCII and bytes that are not UTF-8 text: a signature covers the body byte for byte.
BODY = '{"to": "zoë@example.com", "n": 1}'.encode()


def _now() -> int:
    return int(time.time())  # the reference checks timestamps against its own clock


def _reference_sign(secret: str, body: bytes, ts: int, msg_id: str = MSG_ID) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_a_worker_request_verifies_with_the_reference():
    secret = new_secret()
    now = datetime.now(UTC)
    task = ClaimedTask(id=42, queue="mail", task_type="send", payload={"to": "zoë@example.com"},
                       attempt=1, max_attempts=3, lease_token=uuid.uuid4(), run_at=now,
                       created_at=now, attempted_at=now, target_url="https://app.example/t")
    body = build_body(task)
    msg_id = webhook_id("8d7c6b5a-0000-4000-8000-000000000001", task.id)
    headers = build_headers(task, body, [SigningSecret.parse(secret)], {}, msg_id=msg_id,
                            timestamp=_now())
    assert Webhook(secret).verify(body, headers) == json.loads(body)


@pytest.mark.parametrize("body", [BODY, b"\xff\xfe not text", b""])
def test_both_directions_agree_byte_for_byte(body):
    secret = new_secret()
    ts = _now()
    ours = sign_webhook(MSG_ID, body, secret, ts)
    Webhook(secret).verify(body, ours, json_parse=False)
    theirs = _reference_sign(secret, body, ts)
    assert theirs == ours  # the same HMAC, the same header text
    assert verify_signature(body, theirs, secret) == MSG_ID


def test_rotation_either_secret_verifies_in_both_libraries():
    old, new = new_secret(), new_secret()
    ts = _now()
    both = sign_webhook(MSG_ID, BODY, [old, new], ts)
    assert len(both["webhook-signature"].split()) == 2
    for secret in (old, new):  # a receiver holding either one accepts
        Webhook(secret).verify(BODY, both)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, both)
    # A reference sender mid-rotation sends two signatures; pgtask holding either accepts.
    theirs = _reference_sign(old, BODY, ts)
    theirs["webhook-signature"] += " " + Webhook(new).sign(
        MSG_ID, datetime.fromtimestamp(ts, tz=UTC), BODY)
    assert verify_signature(BODY, theirs, new) == MSG_ID
    assert verify_signature(BODY, theirs, [new_secret(), old]) == MSG_ID


def _altered(headers: dict[str, str], what: str) -> tuple[bytes, dict[str, str]]:
    if what == "body":
        return BODY.replace(b"1", b"2"), headers
    if what == "timestamp":
        return BODY, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)}
    return BODY, {**headers, "webhook-id": MSG_ID + "x"}


@pytest.mark.parametrize("what", ["body", "timestamp", "id"])
def test_an_altered_message_is_refused_by_both(what):
    secret = new_secret()
    for headers in (sign_webhook(MSG_ID, BODY, secret, _now()),
                    _reference_sign(secret, BODY, _now())):
        body, changed = _altered(headers, what)
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, changed)
        with pytest.raises(InvalidSignature):
            verify_signature(body, changed, secret)


def test_a_stale_timestamp_is_refused_by_both_even_when_correctly_signed():
    secret = new_secret()
    stale = _now() - 600  # both allow five minutes either way
    for headers in (sign_webhook(MSG_ID, BODY, secret, stale),
                    _reference_sign(secret, BODY, stale)):
        with pytest.raises(WebhookVerificationError, match="too old"):
            Webhook(secret).verify(BODY, headers)
        with pytest.raises(InvalidSignature, match="too old"):
            verify_signature(BODY, headers, secret)

"""Slack HTTP mode and malformed requests: the signature is checked before the body is read.

A forged request gets 401 whatever its body is; a correctly signed request whose body is not
what Slack sends gets 400. Neither reaches the router, and neither ever gets a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest

from storage.database import make_engine
from tests.conftest import count
from tests.helpers import dispose
from tests.helpers.fake_slack import FakeSlack
from tests.helpers.slack_world import FORM, SIGNING_SECRET, World, make_world

JSON = "application/json"
# Bodies Slack never sends: broken JSON, JSON that is no object, a payload that is no JSON,
# bytes that are no UTF-8.
MALFORMED: list[tuple[bytes, str]] = [
    (b'{"type": "event_callback", "event": ', JSON),
    (b"[1, 2, 3]", JSON),
    (b'"just a string"', JSON),
    (b"{not json at all", FORM),
    (b"payload=%7Bnot+json", FORM),
    (b"payload=%5B1%2C2%5D", FORM),
    (b'{"type": "url_verification", "challenge": "\xff\xfe"}', JSON),
    (b"\xff\xfe\x00garbage", FORM),
    # JSON objects, but with a field of a type bolt does not expect.
    (b'{"type": "event_callback", "event": "x"}', JSON),
    (
        b"payload="
        + quote(json.dumps({"type": "block_actions", "actions": "x", "user": 5})).encode(),
        FORM,
    ),
    (
        b"payload="
        + quote(
            json.dumps({"type": "block_actions", "actions": [{"action_id": 5}], "user": {"id": 5}})
        ).encode(),
        FORM,
    ),
]


@pytest.fixture
async def lite(sqlite_url: str) -> AsyncIterator[World]:
    async with FakeSlack() as fake:
        engine = make_engine(sqlite_url)
        try:
            async for world in make_world(engine, fake):
                yield world
        finally:
            await dispose(engine)


async def _post(
    world: World, body: bytes, content_type: str, signature: str | None, timestamp: int
) -> int:
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(timestamp)}
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    async with world.http.post(world.url, data=body, headers=headers) as response:
        return response.status


def _signed(body: bytes, timestamp: int) -> str:
    """Slack signs the raw bytes of the body."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


async def _nothing_happened(world: World) -> None:
    await world.settle()
    assert world.router.events == []
    for table in ("inbound_event", "outbox", "conversation", "incident"):
        assert await count(world.app.engine, table) == 0, table
    assert await count(world.app.engine, "audit") == 1, "only the region import's record"


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
async def test_a_malformed_body_without_a_valid_signature_gets_401(
    lite: World, body: bytes, content_type: str
) -> None:
    now = int(time.time())
    assert await _post(lite, body, content_type, None, now) == 401
    assert await _post(lite, body, content_type, "v0=" + "0" * 64, now) == 401
    assert await _post(lite, body, content_type, "nonsense", now) == 401
    await _nothing_happened(lite)


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
async def test_a_malformed_but_signed_body_gets_400(
    lite: World, body: bytes, content_type: str
) -> None:
    now = int(time.time())
    assert await _post(lite, body, content_type, _signed(body, now), now) == 400
    await _nothing_happened(lite)


async def test_odd_signature_headers_get_401(lite: World) -> None:
    body = b'{"type": "url_verification", "challenge": "c"}'
    now = int(time.time())
    for timestamp, signature in [
        ("9" * 5000, _signed(body, now)),  # more digits than int() reads
        (str(now), "v0=\u00e9\u00e9"),  # not ASCII
        (str(now), ""),
        ("", _signed(body, now)),
        ("-1", _signed(body, now)),
    ]:
        headers = {
            "Content-Type": JSON,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }
        async with lite.http.post(lite.url, data=body, headers=headers) as response:
            assert response.status == 401, (timestamp[:10], signature)
    await _nothing_happened(lite)

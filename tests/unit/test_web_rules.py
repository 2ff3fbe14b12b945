"""What the web chat and REST channels accept: sender ids, metadata, client addresses, rate limits."""

from __future__ import annotations

import pytest

from tests.conftest import service_url
from vecina.channels.web_rules import REST_METADATA, WEBCHAT_METADATA, RateLimits, allowed_metadata, \
    client_address, rest_conversation


@pytest.mark.parametrize("sender, conversation", [
    ("test-1a2b", "rest:test-1a2b"),
    ("A.b_c-9", "rest:A.b_c-9"),
    ("x" * 64, "rest:" + "x" * 64),
    ("x" * 65, None),
    ("", None),
    ("whatsapp:+34600000000", None),
    ("rest:abc", None),
    ("socketio:0123456789abcdef", None),
    ("a b", None),
    ("abc\n", None),
    ("../tracker", None),
    ("a/b", None),
    ("niño", None),
    ("ａｂｃ", None),  # full-width letters
    (None, None),
    (12345, None),
    (["abc"], None),
])
def test_rest_sender_ids_are_validated_and_namespaced(sender, conversation) -> None:  # type: ignore[no-untyped-def]
    assert rest_conversation(sender) == conversation


FORGED = {"media": {"kind": "image", "path": "../../etc/passwd"}, "latitude": 39.47, "longitude": -0.376,
          "is_external": True, "unsupported": "sticker", "call": "CA123", "utter_action": "utter_greet",
          "staff": "Ana", "language": "es"}


@pytest.mark.parametrize("allowed", [WEBCHAT_METADATA, REST_METADATA], ids=["webchat", "rest"])
@pytest.mark.parametrize("raw", [FORGED, {"media": None}, {}, None, "{\"media\": 1}", ["media"], 42],
                         ids=["forged", "media-none", "empty", "none", "json-text", "list", "number"])
def test_client_metadata_never_carries_what_staff_or_actions_read(allowed, raw) -> None:  # type: ignore[no-untyped-def]
    assert allowed_metadata(raw, allowed) == {}


@pytest.mark.parametrize("raw, kept", [
    ({"hint": "es", "latitude": 1.0}, {"hint": "es"}),
    ({"hint": "fr"}, {}),
    ({"hint": ["es"]}, {}),
    ({"hint": "va", "is_external": True}, {"hint": "va"}),
])
def test_an_allowed_key_is_kept_only_with_a_valid_value(raw, kept) -> None:  # type: ignore[no-untyped-def]
    assert allowed_metadata(raw, {"hint": lambda value: value in ("es", "ca", "va")}) == kept


@pytest.mark.parametrize("peer, forwarded, proxies, address", [
    ("203.0.113.5", None, 0, "203.0.113.5"),
    ("203.0.113.5", "198.51.100.7", 0, "203.0.113.5"),  # no trusted proxy: the header is ignored
    ("10.0.0.2", "198.51.100.7", 1, "198.51.100.7"),
    ("10.0.0.2", "6.6.6.6, 198.51.100.7", 1, "198.51.100.7"),  # the client's own claim is not trusted
    ("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.3", 2, "198.51.100.7"),
    ("10.0.0.2", "198.51.100.7", 2, "10.0.0.2"),  # fewer hops than proxies: the peer
    ("10.0.0.2", " , ", 1, "10.0.0.2"),
    ("10.0.0.2", "", 1, "10.0.0.2"),
    (None, None, 0, "unknown"),
])
def test_the_client_address_comes_from_forwarded_for_only_behind_trusted_proxies(
        peer, forwarded, proxies, address) -> None:  # type: ignore[no-untyped-def]
    assert client_address(peer, forwarded, proxies) == address


def _limits(storage_url=None) -> RateLimits:  # type: ignore[no-untyped-def]
    return RateLimits("unit", per_sender=3, per_address=5, storage_url=storage_url)


def _exercise(limits: RateLimits, prefix: str) -> None:
    one, two, three = (f"{prefix}:{n}" for n in (1, 2, 3))
    assert [limits.allow(one, "198.51.100.1") for _ in range(4)] == [True, True, True, False]
    assert [limits.allow(two, "198.51.100.1") for _ in range(3)] == [True, True, False]  # the address: 5 in all
    assert limits.allow(three, "198.51.100.2")  # another address, another conversation
    assert [limits.notice_due(one), limits.notice_due(one), limits.notice_due(two)] == [True, False, True]


def test_rate_limits_per_conversation_and_per_address_in_memory() -> None:
    _exercise(_limits(), "socketio")


@pytest.mark.services
def test_rate_limits_are_shared_through_redis() -> None:
    import uuid

    url = service_url("VECINA_TEST_REDIS_URL")
    prefix = f"rest:{uuid.uuid4().hex}"
    _exercise(_limits(url), prefix)
    other_replica = _limits(url)
    assert not other_replica.allow(f"{prefix}:1", "198.51.100.9")  # the counts are shared


def test_a_failing_counter_store_lets_messages_through_and_logs_no_ids(caplog) -> None:  # type: ignore[no-untyped-def]
    limits = _limits("redis://127.0.0.1:1/1")  # nothing listens there
    assert limits.allow("rest:secret-sender", "198.51.100.77")
    assert "rate limit store unavailable" in caplog.text
    assert "secret-sender" not in caplog.text and "198.51.100.77" not in caplog.text

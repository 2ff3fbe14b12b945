"""Signed web chat session ids: only ids this server issued, with this secret, verify."""

from __future__ import annotations

import hashlib
import re

import pytest
from itsdangerous import Signer

from vecina.web.session import SALT, SessionSigner

SECRET = "unit-tests-webchat-secret-not-a-real-one"
OTHER_SECRET = "another-webchat-secret-of-32-characters-or-more"


def test_an_issued_id_verifies_to_its_random_part_and_ids_differ() -> None:
    signer = SessionSigner(SECRET)
    first, second = signer.issue(), signer.issue()
    assert first != second
    raw = signer.verify(first)
    assert raw is not None and re.fullmatch(r"[0-9a-f]{32}", raw) and first.startswith(raw + ".")
    assert len(first) <= 128


def _tampered(token: str) -> str:
    raw, _, signature = token.partition(".")
    return f"{raw}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def _other_raw(token: str) -> str:
    raw, _, signature = token.partition(".")
    return f"{'0' if raw[0] != '0' else '1'}{raw[1:]}.{signature}"


def _signed_non_hex(_token: str) -> str:
    signer = Signer(SECRET, salt=SALT, key_derivation="hmac", digest_method=hashlib.sha256)
    return signer.sign("whatsapp:+34600000000").decode()


@pytest.mark.parametrize("forge", [
    lambda token: token.partition(".")[0],  # the bare id, unsigned (what Rasa's channel accepted)
    _tampered,
    _other_raw,
    lambda _token: SessionSigner(OTHER_SECRET).issue(),  # signed with another secret
    _signed_non_hex,  # a right signature over something that is not one of our ids
    lambda token: token + ".",
    lambda token: " " + token,
    lambda token: token + "0" * 200,
    lambda _token: "",
    lambda _token: None,
    lambda _token: 12345,
    lambda token: {"session_id": token},
    lambda token: "á" + token[1:],
], ids=["unsigned", "tampered-signature", "other-id", "other-secret", "signed-non-id", "trailing-dot",
        "leading-space", "too-long", "empty", "none", "number", "object", "non-ascii"])
def test_unsigned_forged_or_malformed_ids_do_not_verify(forge) -> None:  # type: ignore[no-untyped-def]
    signer = SessionSigner(SECRET)
    assert signer.verify(forge(signer.issue())) is None


def test_ids_survive_a_restart_with_the_same_secret_only() -> None:
    token = SessionSigner(SECRET).issue()
    assert SessionSigner(SECRET).verify(token) == token.partition(".")[0]
    assert SessionSigner(OTHER_SECRET).verify(token) is None

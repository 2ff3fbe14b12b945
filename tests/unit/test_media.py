"""Files citizens send: kept within type and size limits; provider trouble is retried later."""

from __future__ import annotations

import aiohttp
import pytest

from vecina.channels.media import MediaStore
from vecina.channels.worker import TransientError


async def chunks(*parts: bytes):
    for part in parts:
        yield part


async def test_a_file_over_the_limit_is_refused_and_nothing_is_left(tmp_path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    too_big = await store.reference("image", lambda: store.save("image", "image/jpeg", chunks(b"x" * 600, b"x" * 600)))
    assert too_big == {"kind": "image", "rejected": "too_large"}
    declared = await store.reference("image", lambda: store.save("image", "image/jpeg", chunks(b"x"), 5000))
    assert declared == {"kind": "image", "rejected": "too_large"}
    assert list(tmp_path.iterdir()) == []


async def test_an_allowed_file_is_kept_once_by_its_hash(tmp_path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    first = await store.reference("document", lambda: store.save("document", "application/pdf", chunks(b"%PDF-1")))
    again = await store.reference("document", lambda: store.save("document", "application/pdf", chunks(b"%PDF-1")))
    assert first == again and first["file"].endswith(".pdf") and first["size"] == 6
    assert [p.name for p in tmp_path.iterdir()] == [first["file"]]


async def test_network_trouble_is_transient(tmp_path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)

    async def unreachable():
        raise aiohttp.ClientConnectionError("refused")

    with pytest.raises(TransientError):
        await store.reference("image", unreachable)

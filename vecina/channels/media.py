"""Files citizens send (photos of an incident, a document): kept on disk by content hash, within
type and size limits. The conversation gets a reference (`media` in the message metadata), never
the bytes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Optional

import aiohttp

from vecina.channels.worker import TransientError

ALLOWED_TYPES: Dict[str, str] = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
    "application/pdf": ".pdf",
    "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/amr": ".amr",
    "video/mp4": ".mp4", "video/3gpp": ".3gp",
}
TOO_LARGE, TYPE_NOT_ALLOWED = "too_large", "type_not_allowed"


class MediaRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StoredMedia:
    kind: str
    mime_type: str
    size: int
    sha256: str
    file: str  # relative to the media directory

    def reference(self) -> Dict[str, object]:
        return {"kind": self.kind, "mime_type": self.mime_type, "size": self.size, "sha256": self.sha256,
                "file": self.file}


class MediaStore:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def check(self, mime_type: str, declared_size: Optional[int] = None) -> str:
        """The file extension for an allowed type; MediaRejected before anything is downloaded."""
        base_type = (mime_type or "").split(";")[0].strip().lower()
        if base_type not in ALLOWED_TYPES:
            raise MediaRejected(TYPE_NOT_ALLOWED)
        if declared_size is not None and declared_size > self.max_bytes:
            raise MediaRejected(TOO_LARGE)
        return ALLOWED_TYPES[base_type]

    async def reference(self, kind: str, fetch: Callable[[], Awaitable[StoredMedia]]) -> Dict[str, object]:
        """What the conversation gets for a file: its reference, or why it was refused. Network
        trouble is transient: the message is tried again later."""
        try:
            stored = await fetch()
        except MediaRejected as rejection:
            return {"kind": kind, "rejected": rejection.reason}
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise TransientError(f"media: {type(error).__name__}")
        return stored.reference()

    async def save(self, kind: str, mime_type: str, chunks: AsyncIterator[bytes],
                   declared_size: Optional[int] = None) -> StoredMedia:
        """Write the streamed bytes; stops at the size limit, whatever the provider declared."""
        extension = self.check(mime_type, declared_size)
        self.directory.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise MediaRejected(TOO_LARGE)
                    digest.update(chunk)
                    out.write(chunk)
            name = digest.hexdigest() + extension
            os.replace(temporary, self.directory / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return StoredMedia(kind, mime_type.split(";")[0].strip().lower(), size, digest.hexdigest(), name)


async def download(url: str, timeout: aiohttp.ClientTimeout, **request: Any) -> AsyncIterator[bytes]:
    """Stream a provider's file (`request`: headers or auth). Provider trouble (5xx, throttling) is
    transient and the message is tried again later; any other refusal makes the file unavailable."""
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url, **request) as answer:
            if answer.status >= 500 or answer.status == 429:
                raise TransientError(f"media download {answer.status}")
            if answer.status != 200:
                raise MediaRejected("unavailable")
            async for chunk in answer.content.iter_chunked(64 * 1024):
                yield chunk

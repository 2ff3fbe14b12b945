"""Load the validated kb into the database, and read it back for the assistant at run time."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Protocol, Tuple

from sqlalchemy import delete, select

from vecina import db
from vecina.db.models import KbDocument, KbMeta, KbProcedureIndex
from vecina.kb.build import KbError, Problem, build_from_documents, to_document, validate_dir
from vecina.kb.model import KnowledgeBase

VERSION_KEY = "version"


class KbInvalid(Exception):
    def __init__(self, problems: List[Problem]):
        super().__init__(f"{len(problems)} problem(s) in the knowledge base")
        self.problems = problems


@dataclass(frozen=True)
class LoadResult:
    version: str
    changed: bool
    counts: Dict[str, int]


def load(kb_dir: Path, url: str) -> LoadResult:
    """Validate kb_dir and replace the stored kb in one transaction; a no-op when unchanged."""
    kb, problems, files = validate_dir(kb_dir)
    if problems or kb is None:
        raise KbInvalid(problems)
    documents = {path: to_document(node) for path, node in files.items()}
    version = hashlib.sha256(json.dumps(documents, sort_keys=True).encode()).hexdigest()[:16]
    counts = {"procedures": len(kb.procedures), "centres": len(kb.centres),
              "districts": len(kb.districts), "streets": len(kb.streets)}
    db.upgrade(url)
    with db.session_scope(url) as session:
        current = session.get(KbMeta, VERSION_KEY)
        if current is not None and current.value == version:
            return LoadResult(version, False, counts)
        session.execute(delete(KbDocument))
        session.execute(delete(KbProcedureIndex))
        session.add_all(KbDocument(path=path, content=content) for path, content in documents.items())
        session.add_all(KbProcedureIndex(id=p.id, category=p.category, popularity=p.popularity)
                        for p in kb.procedures.values())
        session.merge(KbMeta(key=VERSION_KEY, value=version, updated_at=datetime.now(timezone.utc)))
    return LoadResult(version, True, counts)


class KbSource(Protocol):
    """What services need of the kb: the current one (KbReader, or a fixed kb in tests)."""

    def current(self) -> KnowledgeBase: ...


class KbReader:
    """The kb as the assistant sees it: rebuilt from the database when its version changes."""

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._cached: Optional[Tuple[str, KnowledgeBase]] = None

    def current(self) -> KnowledgeBase:
        with db.session_scope(self.url) as session:
            meta = session.get(KbMeta, VERSION_KEY)
            if meta is None:
                raise KbError("the knowledge base is not loaded: run 'vecina kb load'")
            version = meta.value
            if self._cached and self._cached[0] == version:
                return self._cached[1]
            documents = {row.path: row.content for row in session.execute(select(KbDocument)).scalars()}
        kb = build_from_documents(documents)
        with self._lock:
            self._cached = (version, kb)
        return kb

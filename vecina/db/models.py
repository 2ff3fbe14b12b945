"""Tables. The kb tables hold the editors' documents as loaded by `vecina kb load`."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, String, Text
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class KbDocument(Base):
    """One kb file's content (plain JSON), keyed by its path relative to kb/."""

    __tablename__ = "kb_documents"

    path = Column(String(200), primary_key=True)
    content = Column(JSON, nullable=False)


class KbMeta(Base):
    __tablename__ = "kb_meta"

    key = Column(String(50), primary_key=True)
    value = Column(Text, nullable=False)
    updated_at = Column(DateTime(timezone=True), nullable=False)


class KbProcedureIndex(Base):
    """Queryable index of procedures for reports and other systems (content lives in kb_documents)."""

    __tablename__ = "kb_procedures"

    id = Column(String(100), primary_key=True)
    category = Column(String(40), nullable=False)
    popularity = Column(Integer, nullable=False)

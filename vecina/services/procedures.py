"""Find procedures by what citizens write, and present them in a language."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from vecina import LANGUAGES
from vecina.kb.model import KnowledgeBase, Procedure
from vecina.text import best_matches, fold, names_in_text

FOUND, AMBIGUOUS, NOT_FOUND = "found", "ambiguous", "not_found"
ENTITY_CUTOFF = 78.0  # for a short entity value, whole-string similarity
TEXT_CUTOFF = 86.0  # for a whole message, best alignment of a name inside it
AMBIGUITY_MARGIN = 4.0


@dataclass
class ProcedureMatch:
    status: str
    procedure: Optional[Procedure] = None
    candidates: List[Procedure] = field(default_factory=list)


class ProcedureCatalog:
    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self._labels: Dict[str, str] = {}  # folded name -> procedure id (names win over synonyms)
        for procedure in kb.procedures.values():
            for language in LANGUAGES:
                for label in procedure.synonyms[language]:
                    self._labels.setdefault(fold(label), procedure.id)
        for procedure in kb.procedures.values():
            for language in LANGUAGES:
                self._labels[fold(procedure.name[language])] = procedure.id
            self._labels[fold(procedure.id.replace("-", " "))] = procedure.id

    def get(self, ident: Optional[str]) -> Optional[Procedure]:
        return self.kb.procedures.get(ident or "")

    def find(self, entity_value: Optional[str], text: str) -> ProcedureMatch:
        """Match the extracted entity first (it may already be a kb id), then the whole message."""
        if entity_value and entity_value in self.kb.procedures:
            return ProcedureMatch(FOUND, self.kb.procedures[entity_value])
        scores: List[tuple] = []
        if entity_value:
            scores = best_matches(fold(entity_value), {label: label for label in self._labels}, cutoff=ENTITY_CUTOFF)
        if not scores:
            scores = names_in_text(fold(text), self._labels, TEXT_CUTOFF)
        by_id: Dict[str, float] = {}
        for label, score in scores:
            ident = self._labels[label]
            by_id[ident] = max(score, by_id.get(ident, 0.0))
        ranked = sorted(by_id.items(), key=lambda item: (-item[1], -self.kb.procedures[item[0]].popularity))
        if not ranked:
            return ProcedureMatch(NOT_FOUND)
        top = [self.kb.procedures[ident] for ident, score in ranked if score >= ranked[0][1] - AMBIGUITY_MARGIN]
        if len(top) == 1:
            return ProcedureMatch(FOUND, top[0])
        return ProcedureMatch(AMBIGUOUS, candidates=top[:5])

    def popular(self, count: int) -> List[Procedure]:
        return sorted(self.kb.procedures.values(), key=lambda p: (-p.popularity, p.id))[:count]

    def page(self, number: int, size: int) -> tuple:
        """(procedures on page `number` (1-based), total pages), alphabetical by id."""
        ordered = sorted(self.kb.procedures.values(), key=lambda p: (-p.popularity, p.id))
        pages = max(1, -(-len(ordered) // size))
        number = min(max(1, number), pages)
        return ordered[(number - 1) * size: number * size], pages


def bullet_list(items: List[str]) -> str:
    return "\n".join(f"• {item}" for item in items)


def procedure_variables(procedure: Procedure, language: str) -> Dict[str, str]:
    """Everything a procedure response may show, in one language, ready for the templates."""
    documents = []
    for document in procedure.documents:
        line = document.name[language]
        if document.note:
            line = f"{line} ({document.note[language]})"
        documents.append(line)
    return {
        "procedure_name": procedure.name[language],
        "summary": procedure.summary[language],
        "where": procedure.where[language],
        "online_url": procedure.online_url or "",
        "fee": procedure.fee[language],
        "processing_time": procedure.processing_time[language],
        "legal_title": procedure.legal_title[language],
        "legal_url": procedure.legal_url,
        "requirements": bullet_list(procedure.requirements[language]),
        "documents": bullet_list(documents),
    }

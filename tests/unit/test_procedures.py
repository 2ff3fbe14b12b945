"""Procedure names are matched robustly: synonyms, accents, typos, all three languages."""

from __future__ import annotations

import pytest

from vecina.services.procedures import AMBIGUOUS, FOUND, NOT_FOUND, ProcedureCatalog, procedure_variables


@pytest.fixture(scope="module")
def catalog(kb) -> ProcedureCatalog:
    return ProcedureCatalog(kb)


@pytest.mark.parametrize("text, expected", [
    ("renta valenciana de inclusion", "inclusion-income"),
    ("renda valenciana d'inclusió", "inclusion-income"),
    ("rentta valenciana de inclsion", "inclusion-income"),  # typos
    ("la RVI", "inclusion-income"),  # acronym
    ("que documentos necesito para empadronarme", "census-registration"),
    ("quin papers calen pel padró", "census-registration"),
    ("volante de empadronamiento", "census-certificate"),  # longer name wins over "empadronamiento"
    ("teleasistencia", "tele-assistance"),
    ("el SAD", "home-help"),
    ("ayuda a domicilio", "home-help"),
    ("necesito la ayuda de emergencia social", "emergency-social-aid"),
    ("beca de comedor", "school-canteen-grant"),
    ("bono social", "energy-bonus"),
])
def test_procedure_found_in_free_text(catalog: ProcedureCatalog, text: str, expected: str) -> None:
    match = catalog.find(None, text)
    assert match.status == FOUND, (text, match)
    assert match.procedure.id == expected


@pytest.mark.parametrize("entity, expected", [
    ("renta inclusion", "inclusion-income"),
    ("teleasistència", "tele-assistance"),
    ("padron", "census-registration"),
    ("inclusion-income", "inclusion-income"),  # already a kb id (synonym mapper)
])
def test_procedure_found_from_entity(catalog: ProcedureCatalog, entity: str, expected: str) -> None:
    match = catalog.find(entity, f"algo sobre {entity}")
    assert match.status == FOUND and match.procedure.id == expected


def test_vague_name_is_ambiguous_with_candidates(catalog: ProcedureCatalog) -> None:
    match = catalog.find("bono", "el bono")
    assert match.status == AMBIGUOUS
    assert len(match.candidates) >= 2


@pytest.mark.parametrize("text", ["xyz blah", "quiero saber como va mi expediente", "", "👍👍"])
def test_unknown_text_is_not_found(catalog: ProcedureCatalog, text: str) -> None:
    assert catalog.find(None, text).status == NOT_FOUND


def test_popular_and_pages_cover_every_procedure(catalog: ProcedureCatalog, kb) -> None:
    popular = catalog.popular(6)
    assert [p.popularity for p in popular] == sorted((p.popularity for p in popular), reverse=True)
    seen, page, pages = [], 1, 1
    while page <= pages:
        items, pages = catalog.page(page, 8)
        seen += [p.id for p in items]
        page += 1
    assert sorted(seen) == sorted(kb.procedures)


@pytest.mark.parametrize("language", ["es", "ca", "va"])
def test_variables_are_in_the_requested_language(kb, language: str) -> None:
    procedure = kb.procedures["rent-aid"]
    variables = procedure_variables(procedure, language)
    assert variables["summary"] == procedure.summary[language]
    assert variables["requirements"].splitlines()[0] == f"• {procedure.requirements[language][0]}"
    assert len(variables["documents"].splitlines()) == len(procedure.documents)

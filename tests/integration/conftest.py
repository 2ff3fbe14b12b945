"""One real stack (action server + Rasa server with the trained model) for all integration tests."""

from __future__ import annotations

import pytest

from vecina.stack import Stack, start_stack
from vecina.cli import model_path
from vecina.settings import get_settings

JWT_SECRET = "integration-tests-only-not-a-real-secret"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    model = model_path(get_settings())
    if not model.exists():
        pytest.fail(f"no trained model for the current data ({model.name}): run 'make train' (make test does)")
    running = start_stack(tmp_path_factory.mktemp("stack"), model, {"VECINA_CATALAN_VARIETY": "va"},
                          jwt_secret=JWT_SECRET)
    yield running
    running.stop()

"""Configuration from the environment: embedded defaults, derived Rasa variables."""

from __future__ import annotations

import pytest

from vecina.settings import Settings


def test_default_settings_are_embedded() -> None:
    settings = Settings(_env_file=None)
    env = settings.rasa_environment()
    assert settings.database_url.startswith("sqlite:///") and env["VECINA_TRACKER_DIALECT"] == "sqlite"
    assert env["VECINA_TRACKER_PORT"] == "0"  # Rasa insists on an integer, SQLite ignores it
    assert env["VECINA_LOCK_STORE_TYPE"] == "in_memory" and env["RASA_TELEMETRY_ENABLED"] == "false"
    assert env["SANIC_HOST"] == "127.0.0.1"  # the action server listens on loopback unless told otherwise
    assert env["SANIC_REQUEST_MAX_SIZE"] == str(8 * 1024 * 1024)  # Sanic's own default is 100 MB
    assert env["VECINA_WHATSAPP_APP_SECRET"] == "" and env["VECINA_TWILIO_BASE_URL"] == "https://api.twilio.com"


def test_the_action_endpoint_follows_the_action_server_port() -> None:
    assert Settings(actions_port=6055).rasa_environment()["VECINA_ACTION_ENDPOINT_URL"] == \
        "http://127.0.0.1:6055/webhook"
    remote = Settings(action_endpoint="http://actions:5055/webhook", actions_port=6055)
    assert remote.rasa_environment()["VECINA_ACTION_ENDPOINT_URL"] == "http://actions:5055/webhook"


def test_postgresql_and_redis_urls_become_rasa_fields() -> None:
    settings = Settings(tracker_url="postgresql://rasa:s%40cret@db.internal/conversations",
                        lock_store_url="redis://:pw@cache.internal:6380/2")
    env = settings.rasa_environment()
    assert (env["VECINA_TRACKER_HOST"], env["VECINA_TRACKER_PORT"], env["VECINA_TRACKER_DB"]) == \
        ("db.internal", "5432", "conversations")
    assert (env["VECINA_TRACKER_USER"], env["VECINA_TRACKER_PASSWORD"]) == ("rasa", "s@cret")
    assert (env["VECINA_LOCK_STORE_TYPE"], env["VECINA_LOCK_STORE_HOST"], env["VECINA_LOCK_STORE_PORT"],
            env["VECINA_LOCK_STORE_DB"], env["VECINA_LOCK_STORE_PASSWORD"]) == \
        ("vecina.lock_store.AtomicRedisLockStore", "cache.internal", "6380", "2", "pw")


@pytest.mark.parametrize("field, value", [("catalan_variety", "fr"), ("lock_store_url", "memcached://x")])
def test_bad_values_are_refused_with_the_variable_named(field: str, value: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as raised:
        Settings(**{field: value})
    assert field in str(raised.value)


def test_rasa_api_is_never_enabled_without_a_jwt_secret() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="VECINA_RASA_JWT_SECRET"):
        Settings(_env_file=None, rasa_enable_api=True)
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(_env_file=None, rasa_enable_api=True, rasa_jwt_secret="short")


def test_the_jwt_secret_stays_off_the_visible_command_line(tmp_path) -> None:
    from vecina.cli import server_commands
    from vecina.rasa_server import rasa_arguments

    secret = "s" * 40
    settings = Settings(_env_file=None, rasa_enable_api=True, rasa_jwt_secret=secret, rasa_port=5999)
    visible = server_commands(settings, tmp_path / "model.tar.gz")["rasa"]
    assert secret not in " ".join(visible) and visible[1:3] == ["-m", "vecina.rasa_server"]
    inside = rasa_arguments(settings, tmp_path / "model.tar.gz")
    assert inside[inside.index("--jwt-secret") + 1] == secret and "--enable-api" in inside
    assert inside[inside.index("--jwt-method") + 1] == "HS256" and inside[inside.index("--port") + 1] == "5999"
    assert "--enable-api" not in rasa_arguments(Settings(_env_file=None), tmp_path / "model.tar.gz")

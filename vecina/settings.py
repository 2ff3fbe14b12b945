"""All configuration comes from the environment, validated once (see README "Configuration")."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional
from urllib.parse import unquote, urlsplit

from pydantic import BaseSettings, Field, validator
from pydantic.fields import ModelField

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
REQUEST_MAX_BYTES = 8 * 1024 * 1024
MIN_JWT_SECRET = 32
TURN_LOCK_SECONDS = 330  # Rasa's action timeout (300 s) and a margin
FRAME_ANCESTOR = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")  # an origin that may embed the web chat
CHANNEL_KEYS = {  # the channel settings credentials.yml refers to
    "whatsapp": ("base_url", "api_version", "access_token", "app_secret", "verify_token", "phone_number_ids",
                 "reopen_template"),
    "telegram": ("base_url", "token", "secret_token"),
    "twilio": ("base_url", "account_sid", "auth_token", "public_url", "sms_from", "whatsapp_from",
               "reopen_content_sid", "transfer_number", "transfer_queue", "voice_es", "voice_ca"),
}


class Settings(BaseSettings):
    database_url: str = Field(f"sqlite:///{ROOT / 'var' / 'vecina.db'}", env="VECINA_DATABASE_URL")
    tracker_url: str = Field(f"sqlite:///{ROOT / 'var' / 'tracker.db'}", env="VECINA_TRACKER_URL")
    lock_store_url: Optional[str] = Field(None, env="VECINA_LOCK_STORE_URL")
    action_endpoint: Optional[str] = Field(None, env="VECINA_ACTION_ENDPOINT_URL")
    catalan_variety: str = Field("va", env="VECINA_CATALAN_VARIETY")
    kb_dir: Path = Field(ROOT / "kb", env="VECINA_KB_DIR")
    models_dir: Path = Field(ROOT / "models", env="VECINA_MODELS_DIR")
    domain_dir: Path = Field(ROOT / "domain", env="VECINA_DOMAIN_DIR")
    rasa_port: int = Field(5005, env="VECINA_RASA_PORT")
    actions_port: int = Field(5055, env="VECINA_ACTIONS_PORT")
    web_port: int = Field(8080, env="VECINA_WEB_PORT")
    bind_host: str = Field("127.0.0.1", env="VECINA_BIND_HOST")
    webchat_socket_url: Optional[str] = Field(None, env="VECINA_WEBCHAT_SOCKET_URL")
    # Web chat and REST (vecina.channels.web, vecina.web). The web chat signs its session ids with
    # this secret (32+ characters; the page server and the Rasa server need the same one; without
    # it the page does not start and Rasa refuses every socket.io connection). REST needs a bearer
    # token (32+ characters; unset: REST refuses every request). Rate limits are messages a minute.
    webchat_secret: Optional[str] = Field(None, env="VECINA_WEBCHAT_SECRET")
    webchat_frame_ancestors: str = Field("", env="VECINA_WEBCHAT_FRAME_ANCESTORS")
    web_timeout_seconds: int = Field(15, env="VECINA_WEB_TIMEOUT_SECONDS", ge=1, le=300)
    rest_token: Optional[str] = Field(None, env="VECINA_REST_TOKEN")
    rate_limit_sender: int = Field(20, env="VECINA_RATE_LIMIT_SENDER", ge=1, le=10_000)
    rate_limit_address: int = Field(60, env="VECINA_RATE_LIMIT_ADDRESS", ge=1, le=1_000_000)
    rasa_trusted_proxies: int = Field(0, env="VECINA_RASA_TRUSTED_PROXIES", ge=0, le=5)
    # Rasa's HTTP API (trackers, trigger_intent: the staff console). Off unless enabled, and never
    # without JWT authentication (HS256, a secret of at least 32 characters).
    rasa_enable_api: bool = Field(False, env="VECINA_RASA_ENABLE_API")
    rasa_jwt_secret: Optional[str] = Field(None, env="VECINA_RASA_JWT_SECRET")
    # The staff console (docs/console.md). Cookies are Secure unless this is turned off for a
    # closed network without TLS; browsers accept Secure cookies from http://127.0.0.1 too.
    console_port: int = Field(8090, env="VECINA_CONSOLE_PORT")
    console_secure_cookies: bool = Field(True, env="VECINA_CONSOLE_SECURE_COOKIES")
    console_session_minutes: int = Field(30, env="VECINA_CONSOLE_SESSION_MINUTES", ge=5, le=24 * 60)
    console_rasa_url: Optional[str] = Field(None, env="VECINA_CONSOLE_RASA_URL")
    console_trusted_proxies: int = Field(0, env="VECINA_CONSOLE_TRUSTED_PROXIES", ge=0, le=5)
    console_quiet_minutes: int = Field(30, env="VECINA_CONSOLE_QUIET_MINUTES", ge=1)
    console_quiet_days: int = Field(7, env="VECINA_CONSOLE_QUIET_DAYS", ge=1, le=90)
    # Appointments: our database unless a town hall's own system is set (docs/appointments-api.md)
    appointments_url: Optional[str] = Field(None, env="VECINA_APPOINTMENTS_URL")
    appointments_token: str = Field("", env="VECINA_APPOINTMENTS_TOKEN")
    appointments_timeout: float = Field(8.0, env="VECINA_APPOINTMENTS_TIMEOUT", gt=0, le=60)
    # Reminders and waiting-list offers (vecina serve scheduler; docs/appointments.md). The rate is
    # the provider's limit to stay under (Meta's default tier: 80 messages a second per number).
    reminders_at: str = Field("18:00", env="VECINA_REMINDERS_AT", regex=r"^([01]\d|2[0-3]):[0-5]\d$")
    reminders_per_second: float = Field(20, env="VECINA_REMINDERS_PER_SECOND", gt=0, le=1000)
    reminders_workers: int = Field(4, env="VECINA_REMINDERS_WORKERS", ge=1, le=64)
    scheduler_tick_seconds: float = Field(30, env="VECINA_SCHEDULER_TICK_SECONDS", gt=0, le=3600)
    inbound_workers: int = Field(4, env="VECINA_INBOUND_WORKERS", ge=1, le=64)
    media_dir: Path = Field(ROOT / "var" / "media", env="VECINA_MEDIA_DIR")
    media_max_bytes: int = Field(16 * 1024 * 1024, env="VECINA_MEDIA_MAX_BYTES", ge=1024)
    # WhatsApp Cloud API (docs/channels.md). The secrets have no default: unset, the webhook refuses all.
    whatsapp_base_url: str = Field("https://graph.facebook.com", env="VECINA_WHATSAPP_BASE_URL")
    whatsapp_api_version: str = Field("v21.0", env="VECINA_WHATSAPP_API_VERSION")
    whatsapp_access_token: str = Field("", env="VECINA_WHATSAPP_ACCESS_TOKEN")
    whatsapp_app_secret: str = Field("", env="VECINA_WHATSAPP_APP_SECRET")
    whatsapp_verify_token: str = Field("", env="VECINA_WHATSAPP_VERIFY_TOKEN")
    whatsapp_phone_number_ids: str = Field("", env="VECINA_WHATSAPP_PHONE_NUMBER_IDS")
    whatsapp_reopen_template: str = Field("", env="VECINA_WHATSAPP_REOPEN_TEMPLATE")
    # An approved utility template for reminders outside the 24-hour window (docs/channels.md)
    whatsapp_reminder_template: str = Field("", env="VECINA_WHATSAPP_REMINDER_TEMPLATE")
    # Telegram Bot API. Unset token or secret token: the webhook refuses all.
    telegram_base_url: str = Field("https://api.telegram.org", env="VECINA_TELEGRAM_BASE_URL")
    telegram_token: str = Field("", env="VECINA_TELEGRAM_TOKEN")
    telegram_secret_token: str = Field("", env="VECINA_TELEGRAM_SECRET_TOKEN")
    # Twilio (SMS, WhatsApp, voice). public_url: what Twilio calls (signatures are computed on it).
    twilio_base_url: str = Field("https://api.twilio.com", env="VECINA_TWILIO_BASE_URL")
    twilio_account_sid: str = Field("", env="VECINA_TWILIO_ACCOUNT_SID")
    twilio_auth_token: str = Field("", env="VECINA_TWILIO_AUTH_TOKEN")
    twilio_public_url: str = Field("", env="VECINA_TWILIO_PUBLIC_URL")
    twilio_sms_from: str = Field("", env="VECINA_TWILIO_SMS_FROM")
    twilio_whatsapp_from: str = Field("", env="VECINA_TWILIO_WHATSAPP_FROM")
    twilio_reopen_content_sid: str = Field("", env="VECINA_TWILIO_REOPEN_CONTENT_SID")
    twilio_transfer_number: str = Field("", env="VECINA_TWILIO_TRANSFER_NUMBER")
    twilio_transfer_queue: str = Field("", env="VECINA_TWILIO_TRANSFER_QUEUE")
    twilio_voice_es: str = Field("Google.es-ES-Standard-A", env="VECINA_TWILIO_VOICE_ES")
    twilio_voice_ca: str = Field("Google.ca-ES-Standard-A", env="VECINA_TWILIO_VOICE_CA")

    @property
    def action_endpoint_url(self) -> str:
        """Where Rasa reaches the action server: by default the local one, on its configured port."""
        return self.action_endpoint or f"http://127.0.0.1:{self.actions_port}/webhook"

    @property
    def rasa_api_url(self) -> str:
        """Where the console reaches Rasa's HTTP API (by default the local server)."""
        return self.console_rasa_url or f"http://127.0.0.1:{self.rasa_port}"

    @property
    def socket_url(self) -> str:
        """Where browsers reach Rasa's socket.io channel (behind a proxy: set the public URL)."""
        return self.webchat_socket_url or f"http://{self.bind_host}:{self.rasa_port}"

    class Config:
        case_sensitive = False

    @validator("catalan_variety")
    def _variety(cls, value: str) -> str:
        if value not in ("ca", "va"):
            raise ValueError("VECINA_CATALAN_VARIETY must be 'ca' or 'va'")
        return value

    @validator("rasa_jwt_secret", always=True)
    def _jwt_secret(cls, value: Optional[str], values: Dict[str, object]) -> Optional[str]:
        if value and len(value) < MIN_JWT_SECRET:
            raise ValueError(f"VECINA_RASA_JWT_SECRET must be at least {MIN_JWT_SECRET} characters")
        if values.get("rasa_enable_api") and not value:
            raise ValueError("VECINA_RASA_ENABLE_API needs VECINA_RASA_JWT_SECRET: Rasa's HTTP API is never "
                             "enabled without authentication")
        return value or None

    @validator("webchat_secret", "rest_token")
    def _web_secrets(cls, value: Optional[str], field: ModelField) -> Optional[str]:
        if value and len(value) < MIN_JWT_SECRET:
            raise ValueError(f"{field.field_info.extra['env']} must be at least {MIN_JWT_SECRET} characters")
        return value or None

    @validator("webchat_frame_ancestors")
    def _frame_ancestors(cls, value: str) -> str:
        origins = value.split()
        if not all(FRAME_ANCESTOR.fullmatch(origin) for origin in origins):
            raise ValueError("VECINA_WEBCHAT_FRAME_ANCESTORS: origins separated by spaces (https://www.example.org)")
        return " ".join(origins)

    @validator("appointments_token", always=True)
    def _appointments_token(cls, value: str, values: Dict[str, object]) -> str:
        if values.get("appointments_url") and not value:
            raise ValueError("VECINA_APPOINTMENTS_URL needs VECINA_APPOINTMENTS_TOKEN (docs/appointments-api.md)")
        return value

    @validator("lock_store_url")
    def _lock_store(cls, value: Optional[str]) -> Optional[str]:
        if value and not value.startswith(("redis://", "rediss://")):
            raise ValueError("VECINA_LOCK_STORE_URL must be a redis:// URL")
        return value or None

    def rasa_environment(self) -> Dict[str, str]:
        """Variables that endpoints.yml reads: Rasa takes host/port/db fields, not URLs."""
        tracker = urlsplit(self.tracker_url)
        dialect = tracker.scheme.split("+")[0]
        env = {
            "VECINA_TRACKER_DIALECT": tracker.scheme,
            "VECINA_TRACKER_HOST": tracker.hostname or "",
            "VECINA_TRACKER_PORT": str(tracker.port or DEFAULT_PORTS.get(dialect, 0)),  # Rasa wants an integer
            "VECINA_TRACKER_DB": tracker.path if dialect == "sqlite" else tracker.path.lstrip("/"),
            "VECINA_TRACKER_USER": unquote(tracker.username or ""),
            "VECINA_TRACKER_PASSWORD": unquote(tracker.password or ""),
            "VECINA_ACTION_ENDPOINT_URL": self.action_endpoint_url,
            "VECINA_LOCK_STORE_TYPE": "in_memory",
            "VECINA_LOCK_STORE_HOST": "",
            "VECINA_LOCK_STORE_PORT": "6379",
            "VECINA_LOCK_STORE_DB": "1",
            "VECINA_LOCK_STORE_PASSWORD": "",
            "RASA_TELEMETRY_ENABLED": "false",
            # Rasa holds a conversation's lock for 60 s by default, but waits up to 300 s for one
            # action: a slow turn would lose its lock to the next message of the conversation.
            "TICKET_LOCK_LIFETIME": str(TURN_LOCK_SECONDS),
            "SANIC_HOST": self.bind_host,  # the action server's interface (rasa-sdk has no option for it)
            # Sanic refuses bigger bodies before reading them (its default is 100 MB); the action
            # server receives whole trackers, so this stays well above the webhooks' own 1 MiB.
            "SANIC_REQUEST_MAX_SIZE": str(REQUEST_MAX_BYTES),
        }
        env.update({f"VECINA_{channel.upper()}_{key.upper()}": str(getattr(self, f"{channel}_{key}"))
                    for channel, keys in CHANNEL_KEYS.items() for key in keys})
        if dialect == "sqlite":
            env["VECINA_TRACKER_DB"] = tracker.path[1:] if tracker.path.startswith("//") else tracker.path
        if self.lock_store_url:
            lock = urlsplit(self.lock_store_url)
            env.update({
                "VECINA_LOCK_STORE_TYPE": "vecina.lock_store.AtomicRedisLockStore",  # Rasa's is not atomic
                "VECINA_LOCK_STORE_HOST": lock.hostname or "localhost",
                "VECINA_LOCK_STORE_PORT": str(lock.port or 6379),
                "VECINA_LOCK_STORE_DB": lock.path.lstrip("/") or "1",
                "VECINA_LOCK_STORE_PASSWORD": unquote(lock.password or ""),
            })
        return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

"""`vecina channels status`: which channels are configured and how their messages are doing.

Secrets are never printed, only whether they are set. Failed messages are listed by id, channel,
time and error type, never by content."""

from __future__ import annotations

from typing import List

from vecina.channels.inbound import InboundStore
from vecina.channels.outbound import OutboundStore
from vecina.settings import Settings

REQUIRED = {
    "whatsapp": ("access_token", "app_secret", "verify_token", "phone_number_ids"),
    "telegram": ("token", "secret_token"),
    "twilio": ("account_sid", "auth_token", "public_url"),
}


def status_lines(settings: Settings) -> List[str]:
    lines = []
    for channel, keys in REQUIRED.items():
        missing = [f"VECINA_{channel.upper()}_{key.upper()}" for key in keys
                   if not getattr(settings, f"{channel}_{key}")]
        lines.append(f"{channel}: {'configured' if not missing else 'off (unset: ' + ', '.join(missing) + ')'}")
    inbound, outbound = InboundStore(settings.database_url), OutboundStore(settings.database_url)
    lines.append("inbound messages: " + _counts(inbound.counts()))
    lines.append("outbound messages: " + _counts(outbound.counts()))
    for message_id, channel, received, error in inbound.failed():
        lines.append(f"  failed inbound {message_id} ({channel}, received {received:%Y-%m-%d %H:%M} UTC): {error}")
    return lines


def _counts(counts: dict) -> str:
    return ", ".join(f"{status} {count}" for status, count in sorted(counts.items())) or "none"

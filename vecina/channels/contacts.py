"""Where to reach a citizen on a channel, and whether WhatsApp's 24-hour window is open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Optional

from sqlalchemy.exc import IntegrityError

from vecina.db import session_scope, utcnow
from vecina.db.models import ChannelContact

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Contact:
    conversation_id: str
    channel: str
    address: str
    route: Optional[str]
    language: Optional[str]
    last_inbound_at: Optional[datetime]


class ContactBook:
    def __init__(self, database_url: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.url = database_url
        self.clock = clock

    def heard_from(self, conversation_id: str, channel: str, address: str, route: Optional[str],
                   sent_at: datetime) -> None:
        """The citizen wrote at `sent_at` (provider time): a later message never moves it back.
        Safe when deliveries of the same citizen arrive at the same time: a lost race to create the
        row becomes an update."""
        for attempt in range(2):
            try:
                with session_scope(self.url) as session:
                    row = session.get(ChannelContact, conversation_id, with_for_update=True)
                    if row is None:
                        session.add(ChannelContact(conversation_id=conversation_id, channel=channel,
                                                   address=address, route=route, last_inbound_at=sent_at))
                        return
                    row.address, row.route = address, route or row.route
                    if row.last_inbound_at is None or sent_at > row.last_inbound_at:
                        row.last_inbound_at = sent_at
                return
            except IntegrityError:
                if attempt:
                    raise

    def set_language(self, conversation_id: str, language: Optional[str]) -> None:
        if not language:
            return
        with session_scope(self.url) as session:
            row = session.get(ChannelContact, conversation_id)
            if row is not None and row.language != language:
                row.language = language

    def get(self, conversation_id: str) -> Optional[Contact]:
        with session_scope(self.url) as session:
            row = session.get(ChannelContact, conversation_id)
            if row is None:
                return None
            return Contact(row.conversation_id, row.channel, row.address, row.route, row.language,
                           row.last_inbound_at)

    def window_open(self, contact: Optional[Contact]) -> bool:
        """Free text may be sent only within 24 hours of the citizen's last message."""
        if contact is None or contact.last_inbound_at is None:
            return False
        return self.clock() - contact.last_inbound_at < CUSTOMER_SERVICE_WINDOW

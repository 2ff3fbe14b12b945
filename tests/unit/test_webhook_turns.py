"""A stored message's turn, as the webhook channels hand it to Rasa: the duplicate check runs under
the conversation's lock, so two workers holding the same message (a lease lost during a slow
turn) answer it once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from vecina import db
from vecina.channels.inbound import Claimed
from vecina.channels.webhook import Turn, WebhookChannel
from vecina.settings import Settings


class SlowRasa:
    """Rasa's processor as far as a turn goes: read the conversation, think, save it."""

    def __init__(self, store: InMemoryTrackerStore) -> None:
        self.store = store
        self.turns: List[str] = []

    async def handle_message(self, message: UserMessage) -> None:
        tracker = await self.store.get_or_create_tracker(message.sender_id)
        await asyncio.sleep(0.3)
        tracker.update(UserUttered(message.text, message_id=message.message_id))
        await self.store.save(tracker)
        self.turns.append(message.text or "")


class TextChannel(WebhookChannel):
    @classmethod
    def name(cls) -> str:
        return "text"

    async def turn(self, claimed: Claimed, events: List[Dict[str, Any]]) -> Optional[Turn]:
        return claimed.payload["text"], {}

    def get_output_channel(self) -> CollectingOutputChannel:
        return CollectingOutputChannel()


async def test_two_workers_with_the_same_message_answer_it_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'vecina.db'}"
    db.upgrade(url)
    store = InMemoryTrackerStore(Domain.empty())
    rasa = SlowRasa(store)
    agent = SimpleNamespace(is_ready=lambda: True, processor=rasa, lock_store=InMemoryLockStore(),
                            tracker_store=store, action_endpoint=None)

    async def handle_message(message: UserMessage) -> None:  # what Rasa's agent does for a channel
        async with agent.lock_store.lock(message.sender_id):
            await rasa.handle_message(message)

    channel = TextChannel(Settings(database_url=url))
    channel.app = SimpleNamespace(ctx=SimpleNamespace(agent=agent))
    channel.on_new_message = handle_message
    claimed = Claimed(1, "text", "m1", "text:ana", {"text": "hola"}, 1, 0, datetime.utcnow() + timedelta(seconds=1))
    await asyncio.gather(channel.handle(claimed), channel.handle(claimed))
    assert rasa.turns == ["hola"]

"""WhatsApp's 24-hour customer-service window, for any channel that has it (Meta, Twilio).

Outside the window only approved templates may be sent. A message that cannot go out yet is
kept (`held`), and the channel sends its "reopen" template once, for the first of them. When the
citizen answers (the template's button, or any message) the held messages go out, in order.
"""

from __future__ import annotations

import asyncio

from typing import Any, Awaitable, Callable, Dict, Optional

from vecina.channels.outbound import HELD, OutboundStore, Outgoing

REOPEN_PAYLOAD = "vecina:reopen"


class HeldMessages:
    def __init__(self, channel: str, outbound: OutboundStore) -> None:
        self.channel = channel
        self.outbound = outbound

    def hold(self, conversation_id: str, body: Dict[str, Any], kind: str, response_name: Optional[str]) -> bool:
        """Keep a message; True when it is the first one kept (the caller then sends the template)."""
        first = not self.outbound.held(conversation_id)
        self.outbound.record(self.channel, conversation_id, kind, body, response_name, status=HELD)
        return first

    async def release(self, conversation_id: str, deliver: Callable[[Outgoing], Awaitable[Any]]) -> None:
        for record in await asyncio.to_thread(self.outbound.held, conversation_id):
            if await asyncio.to_thread(self.outbound.release, record.id):
                await deliver(record)

"""The base of the webhook channels: authenticate, store, answer 200 — then hand over to Rasa.

A provider's request is checked before its body is parsed (401 without a signature, 403 with a
wrong one), bounded in size (413), parsed (400 when malformed, with no detail of our code), and
its messages stored in the `InboundStore` (a repeated delivery is a no-op) before the 200. The
Rasa server's workers then take the stored messages in order per conversation and hand each to
Rasa as a `UserMessage` whose `message_id` is the provider's id: when a message was handled just
before a crash, its user event is already in the tracker and it is not handled again.

Before a message is handed to Rasa, the action server must answer its health check, so while it
is down the message waits in the store; should it go away during the turn, the turn fails whole
and is tried again (vecina.channels.turns). The duplicate check runs under the conversation's
lock, and database outages are waited out (vecina.channels.worker).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Tuple

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.lock_store import LockError
from sanic import Blueprint, response
from sqlalchemy.exc import SQLAlchemyError
from sanic.request import Request
from sanic.response import HTTPResponse

from vecina.channels.contacts import ContactBook
from vecina.channels.inbound import Claimed, InboundStore
from vecina.channels.outbound import OutboundStore
from vecina.channels.payloads import citizen_text
from vecina.channels.turns import ActionServerUnavailable, TurnOutput, retryable_turn
from vecina.channels.window import HeldMessages
from vecina.channels.worker import InboundWorker, TransientError, WorkerPolicy, supervise
from vecina.kb.store import KbReader
from vecina.services.reminders import ReminderLog, municipal_clock
from vecina.settings import Settings, get_settings

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# Rasa intents a channel sends itself for messages without words (share_media: domain/channels.yml).
LOCATION_INTENT = "/find_my_centre"
MEDIA_INTENT = "/share_media"
UNSUPPORTED_INTENT = "/nlu_fallback"


class Rejected(Exception):
    """The request is refused with `status`; `reason` is logged, never echoed with details."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    """One citizen message of a webhook request, ready to be stored."""

    provider_id: str
    conversation_id: str
    address: str
    route: Optional[str]
    sent_at: datetime
    payload: Dict[str, Any]


@dataclass(frozen=True)
class Receipt:
    provider_id: str
    status: str
    at: datetime
    error_code: Optional[str] = None


@dataclass
class Parsed:
    deliveries: List[Delivery] = field(default_factory=list)
    receipts: List[Receipt] = field(default_factory=list)


Turn = Tuple[str, Dict[str, Any]]  # text for Rasa, message metadata


def chosen(payload: Optional[str], title: str, offered: Set[str]) -> Turn:
    """A tapped option: its payload when the bot offered it, otherwise the words on it."""
    if payload and payload in offered:
        return payload, {}
    return citizen_text(title, set()), {}


class WebhookChannel(InputChannel):
    """Subclasses implement `authenticate`, `parse` and `turn`; the rest is shared."""

    def __init__(self, settings: Optional[Settings] = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.settings = settings or get_settings()
        self.max_body_bytes = max_body_bytes
        self.inbound = InboundStore(self.settings.database_url)
        self.contacts = ContactBook(self.settings.database_url)
        self.outbound = OutboundStore(self.settings.database_url)
        self.reminders = ReminderLog(self.settings.database_url,
                                     clock=municipal_clock(KbReader(self.settings.database_url)))
        self.on_new_message: Optional[Callable[[UserMessage], Awaitable[Any]]] = None
        self.app: Any = None

    # --- what a provider's channel defines ---------------------------------------------------
    def authenticate(self, request: Request) -> None:
        """Raise `Rejected(401|403, …)` unless the request really comes from the provider."""
        raise NotImplementedError

    def parse(self, request: Request) -> Parsed:
        """The deliveries and receipts in an authenticated request; `Rejected(400, …)` if malformed."""
        raise NotImplementedError

    async def turn(self, claimed: Claimed, events: List[Dict[str, Any]]) -> Optional[Turn]:
        """What Rasa receives for a stored message (None when the channel handled it itself)."""
        raise NotImplementedError

    async def before_turn(self, claimed: Claimed) -> None:
        """Run when a stored message is about to be handled (WhatsApp sends held messages)."""

    def add_routes(self, blueprint: Blueprint) -> None:
        """Extra routes (WhatsApp's GET verification)."""

    def accepted(self) -> HTTPResponse:
        return response.json({"status": "ok"})

    # --- shared ------------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        self.on_new_message = on_new_message
        hooks = Blueprint(f"vecina_{self.name()}", __name__)

        @hooks.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hooks.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self.receive(request)

        @hooks.listener("after_server_start")
        async def start(app: Any, _loop: Any) -> None:
            start_workers(app, self)

        @hooks.listener("before_server_stop")
        async def stop(app: Any, _loop: Any) -> None:
            await stop_workers(app)

        self.add_routes(hooks)
        return hooks

    async def receive(self, request: Request) -> HTTPResponse:
        if too_large(request, self.max_body_bytes):
            return self.refuse(Rejected(413, "body over the limit"))
        try:
            self.authenticate(request)
            parsed = self.parse(request)
        except Rejected as rejection:
            return self.refuse(rejection)
        try:
            await asyncio.to_thread(self.store, parsed)
        except SQLAlchemyError as error:  # the provider delivers again later; its error text would carry the body
            logger.error("%s webhook: could not store the delivery (%s)", self.name(), type(error).__name__)
            return response.json({"error": "temporarily unavailable"}, status=503)
        return self.accepted()

    def refuse(self, rejection: Rejected) -> HTTPResponse:
        logger.warning("%s webhook refused (%d): %s", self.name(), rejection.status, rejection.reason)
        messages = {400: "malformed request", 401: "unauthenticated", 403: "forbidden", 413: "request too large"}
        return response.json({"error": messages.get(rejection.status, "refused")}, status=rejection.status)

    def store(self, parsed: Parsed) -> None:
        for delivery in parsed.deliveries:
            self.contacts.heard_from(delivery.conversation_id, self.name(), delivery.address, delivery.route,
                                     delivery.sent_at)
            if not self.inbound.accept(self.name(), delivery.provider_id, delivery.conversation_id,
                                       delivery.payload):
                logger.info("%s: repeated delivery ignored", self.name())
        for receipt in parsed.receipts:
            message_id = self.outbound.receipt(self.name(), receipt.provider_id, receipt.status, receipt.at,
                                               receipt.error_code)
            if message_id is None:
                logger.debug("%s: receipt for a message that is not ours", self.name())
            else:
                self.reminders.receipt(message_id, receipt.status, f"{self.name()}:{receipt.error_code or 'unknown'}")

    async def handle(self, claimed: Claimed) -> None:
        """Hand one stored message to Rasa (called by the worker).

        The duplicate check and the turn run under the conversation's lock (Rasa's lock store,
        shared by every replica through Redis), so a message whose turn another worker is still
        finishing is seen as handled once that turn is saved, never answered twice."""
        agent = getattr(self.app.ctx, "agent", None) if self.app else None
        if agent is None or not agent.is_ready() or agent.processor is None:
            raise TransientError("model not loaded")
        await action_server_up(agent)
        try:
            async with agent.lock_store.lock(claimed.conversation_id):
                language = await self._turn_under_lock(agent, claimed)
        except LockError as error:  # the lock store (Redis) is unreachable, or the wait ran out
            raise TransientError("conversation lock unavailable") from error
        if language is not None:
            await asyncio.to_thread(self.contacts.set_language, claimed.conversation_id, language)

    async def _turn_under_lock(self, agent: Any, claimed: Claimed) -> Optional[str]:
        """The turn of a stored message unless it was handled already; the conversation's language."""
        tracker = await agent.tracker_store.retrieve(claimed.conversation_id)
        events = [event.as_dict() for event in tracker.events] if tracker else []
        if any(e.get("event") == "user" and e.get("message_id") == claimed.provider_id for e in events):
            return None  # handled before a crash or a lost lease
        await self.before_turn(claimed)
        turn = await self.turn(claimed, events)
        if turn is None:
            return None
        text, metadata = turn
        output = TurnOutput(self.get_output_channel())
        try:
            async with retryable_turn():  # agent.handle_message would take the same lock again
                await agent.processor.handle_message(UserMessage(
                    text, output, claimed.conversation_id, input_channel=self.name(), metadata=metadata,
                    message_id=claimed.provider_id))
        except ActionServerUnavailable as error:
            raise TransientError("action server down during the turn") from error
        await output.send()
        tracker = await agent.tracker_store.retrieve(claimed.conversation_id)
        return tracker.get_slot("language") if tracker is not None else None


class RecordedOutput(OutputChannel):
    """An output channel whose messages are recorded (OutboundStore), with the citizen's contact
    details and, where the channel has a 24-hour window, the messages held until it reopens."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.contacts = ContactBook(settings.database_url)
        self.outbound = OutboundStore(settings.database_url)
        self.held = HeldMessages(self.name(), self.outbound)


def too_large(request: Request, limit: int) -> bool:
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        declared = 0
    return declared > limit or len(request.body or b"") > limit


async def action_server_up(agent: Any) -> None:
    endpoint = getattr(agent, "action_endpoint", None)
    if endpoint is None or not endpoint.url:
        return
    url = endpoint.url.rsplit("/webhook", 1)[0] + "/health"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            async with session.get(url) as answer:
                if answer.status == 200:
                    return
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        pass
    raise TransientError("action server down")


def start_workers(app: Any, channel: WebhookChannel) -> None:
    """Register the channel with the server's workers, starting them with the first channel."""
    channel.app = app
    channels: Dict[str, WebhookChannel] = getattr(app.ctx, "vecina_channels", None) or {}
    channels[channel.name()] = channel
    app.ctx.vecina_channels = channels
    if getattr(app.ctx, "vecina_workers", None):
        return

    async def dispatch(claimed: Claimed) -> None:
        target = app.ctx.vecina_channels.get(claimed.channel)
        if target is None:
            raise TransientError(f"channel {claimed.channel} not enabled")
        await target.handle(claimed)

    stop = asyncio.Event()
    settings = channel.settings
    workers = [InboundWorker(channel.inbound, dispatch, WorkerPolicy()) for _ in range(settings.inbound_workers)]
    app.ctx.vecina_stop = stop
    app.ctx.vecina_workers = supervise(workers, stop)
    logger.info("%d inbound workers started", settings.inbound_workers)


async def stop_workers(app: Any) -> None:
    workers = getattr(app.ctx, "vecina_workers", None)
    if not workers:
        return
    app.ctx.vecina_stop.set()
    await asyncio.wait(workers, timeout=10)
    app.ctx.vecina_workers = None

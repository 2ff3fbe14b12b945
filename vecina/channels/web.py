"""The web chat (socket.io) and REST channels, with the rules every Vecina channel follows.

- Web chat: every session id is server-issued and signed (vecina.web.session). A session request
  whose id does not verify is refused and the socket disconnected; a message is handled only when
  its session id verifies AND this socket confirmed that session first. The conversation is
  `socketio:<id>` and is also the socket.io room, so replies (and staff replies through
  trigger_intent) reach exactly the browsers holding the signed id. Without VECINA_WEBCHAT_SECRET
  every connection is refused. Rasa's own `jwt_key` is not used: it authenticates the connection
  only, and any holder of a valid token could still claim any session id in session_request /
  user_uttered; a public page would also have to hand that token to everybody.
- REST (server-side integrations, never the public): every request carries
  `Authorization: Bearer <VECINA_REST_TOKEN>` (unset: every request is refused, 403; wrong or
  missing: 401); the sender id is validated and namespaced (`rest:<id>`, vecina.channels.web_rules),
  and the input channel is always "rest". A bad body is 400; a turn that failed (the conversation
  store or the action server down) is 503, never a 200 with no answer, so the caller sends again.
- Both: client metadata is filtered through an allow-list (never stored otherwise); a typed text
  starting with "/" reaches Rasa as a command only when it is a button payload the bot has just
  offered in that conversation (vecina.channels.payloads); messages over the rate limits never
  reach Rasa, and the citizen is told once a minute, in their language, to slow down
  (`utter_slow_down`, rendered by Rasa's response generator from the conversation's slots); REST
  answers such a message with 429.
- Logs carry no message text, session or sender ids, metadata or addresses.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from vecina.channels.payloads import citizen_text, offered_payloads
from vecina.channels.web_rules import REST_METADATA, WEBCHAT_METADATA, WEBCHAT_PREFIX, RateLimits, \
    allowed_metadata, client_address, rest_conversation
from vecina.settings import Settings, get_settings
from vecina.web.session import SessionSigner

logger = logging.getLogger(__name__)

SLOW_DOWN = "utter_slow_down"
RETRY_AFTER_SECONDS = "60"
BAD_REST_BODY = 'expected {"sender": "<1-64 of A-Z a-z 0-9 _ . ->", "message": "<text>"}'

Handler = Callable[[UserMessage], Awaitable[Any]]


def rate_limits(channel: str, settings: Settings) -> RateLimits:
    return RateLimits(channel, settings.rate_limit_sender, settings.rate_limit_address, settings.lock_store_url)


class Turns:
    """Hands a citizen's message to Rasa once it is within the rate limits."""

    def __init__(self, channel: str, limits: RateLimits, on_new_message: Handler, app_of: Callable[[], Any]):
        self.channel = channel
        self.limits = limits
        self.on_new_message = on_new_message
        self.app_of = app_of

    def _agent(self) -> Any:
        app = self.app_of()
        return getattr(app.ctx, "agent", None) if app is not None else None

    async def handle(self, message: UserMessage, address: str) -> bool:
        """False when the message was over a rate limit (and was not handed to Rasa)."""
        if not self.limits.allow(message.sender_id, address):
            if self.limits.notice_due(message.sender_id):
                logger.warning("%s: a conversation went over the rate limit; its messages are dropped for now",
                               self.channel)
                await self._slow_down(message)
            return False
        agent = self._agent()
        tracker = await agent.tracker_store.retrieve(message.sender_id) if agent else None
        events = [event.as_dict() for event in tracker.events] if tracker else []
        message.text = citizen_text(message.text or "", offered_payloads(events))
        await self.on_new_message(message)
        return True

    async def _slow_down(self, message: UserMessage) -> None:
        agent = self._agent()
        if agent is None or agent.domain is None:
            return
        tracker = await agent.tracker_store.retrieve(message.sender_id) \
            or DialogueStateTracker(message.sender_id, agent.domain.slots)
        reply = await agent.nlg.generate(SLOW_DOWN, tracker, message.output_channel.name())
        if reply:
            await message.output_channel.send_response(message.sender_id, reply)


class AppAware:
    """Remembers the Sanic app (for the agent) once the server has started."""

    app: Any = None

    async def _remember_app(self, app: Any, _loop: Any) -> None:
        self.app = app


class WebChatInput(AppAware, SocketIOInput):
    """Rasa's socket.io channel (the web widget), with signed session ids."""

    def __init__(self, signer: Optional[SessionSigner], limits: RateLimits, trusted_proxies: int,
                 user_message_evt: Text = "user_uttered", bot_message_evt: Text = "bot_uttered",
                 namespace: Optional[Text] = None, socketio_path: Optional[Text] = "/socket.io") -> None:
        super().__init__(user_message_evt, bot_message_evt, namespace, True, socketio_path)
        self.signer = signer
        self.limits = limits
        self.trusted_proxies = trusted_proxies
        self.turns: Optional[Turns] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WebChatInput":
        credentials = credentials or {}
        settings = get_settings()
        if not settings.webchat_secret:
            logger.warning("web chat off: VECINA_WEBCHAT_SECRET is not set, every socket.io connection is refused")
        signer = SessionSigner(settings.webchat_secret) if settings.webchat_secret else None
        return cls(signer, rate_limits(cls.name(), settings), settings.rasa_trusted_proxies,
                   credentials.get("user_message_evt", "user_uttered"),
                   credentials.get("bot_message_evt", "bot_uttered"), credentials.get("namespace"),
                   credentials.get("socketio_path", "/socket.io"))

    def conversation(self, data: Any) -> Optional[str]:
        """`socketio:<id>` for a verified signed session id in an event's data, else None."""
        token = data.get("session_id") if isinstance(data, dict) else None
        raw = self.signer.verify(token) if self.signer else None
        return WEBCHAT_PREFIX + raw if raw else None

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        self.sio = sio
        self.turns = Turns(self.name(), self.limits, on_new_message, lambda: self.app)
        blueprint = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        blueprint.listener("after_server_start")(self._remember_app)

        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        blueprint.add_route(health, "/", methods=["GET"])
        sio.on("connect", handler=self._connect, namespace=self.namespace)
        sio.on("session_request", handler=self._session_request, namespace=self.namespace)
        sio.on(self.user_message_evt, handler=self._user_uttered, namespace=self.namespace)
        return blueprint

    async def _connect(self, sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
        return self.signer is not None

    async def _session_request(self, sid: Text, data: Any) -> None:
        conversation = self.conversation(data)
        if conversation is None:
            logger.warning("web chat: a session request with an unsigned or forged session id was refused")
            await self.sio.disconnect(sid, namespace=self.namespace)
            return
        for room in self.sio.rooms(sid, namespace=self.namespace):
            if room.startswith(WEBCHAT_PREFIX) and room != conversation:
                self.sio.leave_room(sid, room, namespace=self.namespace)
        self.sio.enter_room(sid, conversation, namespace=self.namespace)
        await self.sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)

    async def _user_uttered(self, sid: Text, data: Any) -> None:
        conversation = self.conversation(data)
        if conversation is None or conversation not in self.sio.rooms(sid, namespace=self.namespace):
            logger.warning("web chat: a message with an unsigned, forged or unconfirmed session id was ignored")
            return
        text = data.get("message")
        if not isinstance(text, str) or self.turns is None:
            return
        metadata = allowed_metadata(data.get(self.metadata_key), WEBCHAT_METADATA)
        message = UserMessage(text, SocketIOOutput(self.sio, self.bot_message_evt), conversation,
                              input_channel=self.name(), metadata=metadata)
        try:
            await self.turns.handle(message, self._address(sid))
        except Exception as error:  # noqa: BLE001 (a traceback could carry the text or the conversation id)
            logger.error("socketio: the turn failed (%s)", type(error).__name__)

    def _address(self, sid: Text) -> str:
        environ = self.sio.get_environ(sid, namespace=self.namespace) or {}
        request = environ.get("sanic.request")
        return client_address(getattr(request, "ip", None), environ.get("HTTP_X_FORWARDED_FOR"),
                              self.trusted_proxies)


class RestChannel(AppAware, RestInput):
    """Rasa's REST channel, for server-side integrations and tests (not for the public)."""

    def __init__(self, token: Optional[str], limits: RateLimits, trusted_proxies: int) -> None:
        self.token = token
        self.limits = limits
        self.trusted_proxies = trusted_proxies

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "RestChannel":
        settings = get_settings()
        return cls(settings.rest_token, rate_limits(cls.name(), settings), settings.rasa_trusted_proxies)

    def refusal(self, request: Request) -> Optional[HTTPResponse]:
        """403 while no token is configured, 401 without the right bearer token, else None."""
        if not self.token:
            return response.json({"error": "the REST channel is off (VECINA_REST_TOKEN is not set)"}, status=403)
        scheme, _, credential = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip().encode(), self.token.encode()):
            return response.json({"error": "a bearer token is required"}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})
        return None

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        turns = Turns(self.name(), self.limits, on_new_message, lambda: self.app)
        blueprint = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        blueprint.listener("after_server_start")(self._remember_app)

        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def receive(request: Request) -> HTTPResponse:
            refused = self.refusal(request)
            if refused is not None:
                return refused
            try:
                body = request.json
            except Exception:  # noqa: BLE001 (Sanic's error for a body that is not JSON)
                body = None
            conversation = rest_conversation(body.get("sender")) if isinstance(body, dict) else None
            if conversation is None or not isinstance(body.get("message"), str):
                return response.json({"error": BAD_REST_BODY}, status=400)
            collector = CollectingOutputChannel()
            message = UserMessage(body["message"], collector, conversation, input_channel=self.name(),
                                  metadata=allowed_metadata(body.get("metadata"), REST_METADATA))
            address = client_address(request.ip, request.headers.get("x-forwarded-for"), self.trusted_proxies)
            try:
                handled = await turns.handle(message, address)
            except Exception as error:  # noqa: BLE001 (Rasa's own handler logs the text; we log the type)
                logger.error("rest: the turn failed (%s)", type(error).__name__)
                return response.json({"error": "the message could not be handled; send it again"}, status=503,
                                     headers={"Retry-After": "5"})
            if handled:
                return response.json(collector.messages)
            return response.json(collector.messages, status=429, headers={"Retry-After": RETRY_AFTER_SECONDS})

        blueprint.add_route(health, "/", methods=["GET"])
        blueprint.add_route(receive, "/webhook", methods=["POST"])
        return blueprint

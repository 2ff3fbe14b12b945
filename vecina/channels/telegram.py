"""Telegram Bot API channel: webhook in (secret token), Bot API out.

Enable it in credentials.yml as `vecina.channels.telegram.TelegramInput`; the values come from the
VECINA_TELEGRAM_* environment variables (docs/channels.md). Conversation ids are
`telegram:<chat id>`. Options are inline keyboards; a tap arrives as a callback query, which is
always answered (`answerCallbackQuery`) so the citizen's app stops its spinner. Unlike Rasa's
built-in channel, the output channel needs no running event loop of its own, so proactive
messages through trigger_intent work.

Only private chats are conversations: a conversation's chat is its verified sender, and in a group
every member writes into the same chat. So an update counts only when its chat is private and is
the chat of the person who sent it (`chat.id == from.id`). A message or a button tap in a group,
supergroup or channel is answered, at most once in 24 hours per group, with one refusal in the group's
language (`utter_telegram_private_only`) saying how to open a private chat; nothing of it is
kept: no tracker, no contact, no message for Rasa, only the group's chat id and the refusal's
language until the refusal has gone out.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Dict, List, Optional, Set, Text

import aiohttp
from rasa.core.channels.channel import OutputChannel
from sanic.request import Request

from vecina.channels import whatsapp_format as fmt
from vecina.channels.inbound import Claimed
from vecina.channels.media import MediaRejected, MediaStore, StoredMedia, download
from vecina.channels.outbound import SEND_ERRORS, Outgoing, SendError, deliver, send_failure
from vecina.channels.payloads import citizen_text, offered_payloads
from vecina.channels.webhook import (LOCATION_INTENT, MEDIA_INTENT, UNSUPPORTED_INTENT, Delivery, Parsed,
                                     RecordedOutput, Rejected, Turn, WebhookChannel, chosen)
from vecina.channels.worker import TransientError
from vecina.content import response_texts
from vecina.nlu.detection import detect
from vecina.settings import Settings, get_settings

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CALLBACK_DATA_MAX = 64  # bytes
START = "/start"
GREET_INTENT = "/greet"
PRIVATE, GROUPS = "private", ("group", "supergroup", "channel")
GROUP_NOTICE = "group_notice"  # the stored payload's only key: the refusal's language
GROUP_NOTICE_RESPONSE = "utter_telegram_private_only"
GROUP_NOTICE_SECONDS = 24 * 3600  # at most one refusal per group in this period


@dataclass(frozen=True)
class TelegramConfig:
    base_url: str
    token: str
    secret_token: str

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any], settings: Settings) -> "TelegramConfig":
        def value(key: str) -> str:
            found = credentials.get(key)
            return str(found).strip() if found not in (None, "") else str(getattr(settings, f"telegram_{key}"))

        return cls(value("base_url").rstrip("/"), value("token"), value("secret_token"))

    @staticmethod
    def chat(conversation_id: str) -> Optional[int]:
        prefix, _, chat = conversation_id.partition(":")
        if prefix != CHANNEL or not chat.lstrip("-").isdigit():
            return None
        return int(chat)


def parse_update(body: Any, variety: str = "va", now: Optional[float] = None,
                 notice_seconds: int = GROUP_NOTICE_SECONDS) -> Parsed:
    """One Telegram update; `Rejected(400)` when malformed. Updates of other kinds are accepted and
    dropped (edited messages, members joining).

    Only a private chat whose id is its sender's (`chat.id == from.id`) becomes a delivery for its
    conversation. A message, channel post or button tap in a group, supergroup or channel becomes
    at most one group notice per group and period: its provider id names the group and the period,
    so the store keeps one, and its payload holds only the language to refuse in. Anything else
    (a "private" chat that is not its sender's, an unknown chat type) is dropped."""
    if not isinstance(body, dict) or not isinstance(body.get("update_id"), int):
        raise Rejected(400, "not a Telegram update")
    parsed = Parsed()
    moment = time.time() if now is None else now
    try:
        if "message" in body or "channel_post" in body:
            message = body["message"] if "message" in body else body["channel_post"]
            chat, sent, sender = message["chat"], message["date"], message.get("from")
            words = str(message.get("text") or message.get("caption") or "")
        elif "callback_query" in body:
            query = body["callback_query"]
            if "message" not in query:
                return parsed  # a button of an inline-mode message: not ours
            chat, sent, sender, words = query["message"]["chat"], moment, query.get("from"), ""
        else:
            return parsed
        chat_id, kind = chat["id"], chat.get("type")
        if not isinstance(chat_id, int):
            raise Rejected(400, "bad chat id")
        at = datetime.utcfromtimestamp(int(sent))
    except (KeyError, TypeError, ValueError, OverflowError, OSError, AttributeError):
        raise Rejected(400, "update without the expected fields")
    if kind in GROUPS:
        parsed.deliveries.append(group_notice(chat_id, notice_language(words, sender, variety), at, moment,
                                              notice_seconds))
        return parsed
    if kind != PRIVATE or "channel_post" in body or not isinstance(sender, dict) or sender.get("id") != chat_id:
        logger.warning("telegram: update ignored: not a private chat with its sender")
        return parsed
    parsed.deliveries.append(Delivery(str(body["update_id"]), f"{CHANNEL}:{chat_id}", str(chat_id), None, at, body))
    return parsed


def notice_language(words: str, sender: Any, variety: str) -> str:
    """The language to refuse a group in: the message's, else the sender's app language, else Spanish."""
    detected = detect(words).language if words.strip() else None
    if detected is None and isinstance(sender, dict):
        code = str(sender.get("language_code") or "").lower().split("-")[0]
        detected = code if code in ("es", "ca") else None
    return variety if detected == "ca" else "es"


def group_notice(chat: int, language: str, at: datetime, now: float, period: int) -> Delivery:
    """The refusal owed to a group: one per group and period (its provider id), with nothing of the
    message or of its sender."""
    return Delivery(f"{GROUP_NOTICE}:{chat}:{int(now // period)}", f"{CHANNEL}:{chat}", str(chat), None, at,
                    {GROUP_NOTICE: language})


def is_group_notice(payload: Dict[str, Any]) -> bool:
    return set(payload) == {GROUP_NOTICE}


def group_callback(body: Any) -> Optional[str]:
    """The id of a button tap in a group (answered so the app stops its spinner, never stored)."""
    query = body.get("callback_query") if isinstance(body, dict) else None
    chat = ((query or {}).get("message") or {}).get("chat") if isinstance(query, dict) else None
    if isinstance(chat, dict) and chat.get("type") in GROUPS and query.get("id"):
        return str(query["id"])
    return None


def keyboard(buttons: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One option per row; payloads longer than Telegram's 64 bytes become indexes."""
    rows = []
    for index, button in enumerate(buttons):
        payload = str(button.get("payload", ""))
        data = payload if 0 < len(payload.encode()) <= CALLBACK_DATA_MAX else f"{fmt.OPTION_PREFIX}{index}"
        rows.append([{"text": str(button.get("title", ""))[:200], "callback_data": data}])
    return {"inline_keyboard": rows}


class BotApi:
    def __init__(self, config: TelegramConfig, timeout: float = 20) -> None:
        self.config = config
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def call(self, method: str, payload: Dict[str, Any]) -> Any:
        url = f"{self.config.base_url}/bot{self.config.token}/{method}"
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.post(url, json=payload) as answer:
                    data = await answer.json(content_type=None)
        except SEND_ERRORS as error:
            raise send_failure(error)
        if isinstance(data, dict) and data.get("ok"):
            return data.get("result")
        code = int((data or {}).get("error_code") or answer.status)
        raise SendError(str(code), code == 429 or code >= 500)

    async def send(self, chat: int, body: Dict[str, Any]) -> str:
        method = body["method"]
        result = await self.call(method, {"chat_id": chat, **body["payload"]})
        return f"{chat}:{result['message_id']}"

    async def download(self, file_id: str) -> tuple:
        try:
            info = await self.call("getFile", {"file_id": file_id})
        except SendError as error:
            if error.transient:
                raise TransientError(f"getFile {error.code}")
            raise MediaRejected("unavailable")
        return info, self._stream(str(info["file_path"]))

    def _stream(self, path: str) -> AsyncIterator[bytes]:
        return download(f"{self.config.base_url}/file/bot{self.config.token}/{path}", self.timeout)


def bodies_for(message: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Bot API calls for one Rasa bot message."""
    bodies: List[Dict[str, Any]] = []
    text = str(message.get("text") or "").strip()
    buttons = list(message.get("buttons") or message.get("quick_replies") or [])
    chunks = fmt.split_text(text) if text else []
    for index, chunk in enumerate(chunks):
        payload: Dict[str, Any] = {"text": chunk}
        if buttons and index == len(chunks) - 1:
            payload["reply_markup"] = keyboard(buttons)
        bodies.append({"method": "sendMessage", "payload": payload, **({"options": buttons} if "reply_markup"
                                                                         in payload else {})})
    if message.get("image"):
        bodies.append({"method": "sendPhoto", "payload": {"photo": str(message["image"])}})
    return bodies


class TelegramOutput(RecordedOutput):
    def __init__(self, config: TelegramConfig, settings: Settings) -> None:
        super().__init__(settings)
        self.config = config
        self.api = BotApi(config)

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        chat = self.config.chat(recipient_id)
        if chat is None:
            logger.error("telegram: refused to send to a conversation of another channel")
            return
        if chat < 0:  # a group's: conversations are private chats only (one kept from before would leak)
            logger.error("telegram: refused to send a conversation's message to a group chat")
            return
        for body in bodies_for(message):
            record = await asyncio.to_thread(self.outbound.record, CHANNEL, recipient_id, body["method"], body,
                                             message.get("utter_action"))
            await self.deliver(record, chat)

    async def deliver(self, record: Outgoing, chat: int) -> Optional[str]:
        return await deliver(self.outbound, record, lambda outgoing: self.api.send(chat, outgoing.content))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    def told_recently(self, chat: int, seconds: int) -> bool:
        """Whether the group was sent its refusal within `seconds` (whatever became of it)."""
        since = self.outbound.clock() - timedelta(seconds=seconds)
        return self.outbound.recorded_since(f"{CHANNEL}:{chat}", since, response=GROUP_NOTICE_RESPONSE) > 0

    async def send_group_notice(self, chat: int, language: str) -> Optional[str]:
        """The refusal to a group: the service is for private chats, and how to open one."""
        text = response_texts(str(self.settings.domain_dir)).text(GROUP_NOTICE_RESPONSE, language)
        body = {"method": "sendMessage", "payload": {"text": text}}
        record = await asyncio.to_thread(self.outbound.record, CHANNEL, f"{CHANNEL}:{chat}", "sendMessage", body,
                                         GROUP_NOTICE_RESPONSE)
        return await self.deliver(record, chat)


class TelegramInput(WebhookChannel):
    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TelegramInput":
        settings = get_settings()
        return cls(TelegramConfig.from_credentials(credentials or {}, settings), settings)

    def __init__(self, config: TelegramConfig, settings: Optional[Settings] = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.config = config
        self.api = BotApi(config)
        self.output = TelegramOutput(config, self.settings)
        self.media = MediaStore(self.settings.media_dir, self.settings.media_max_bytes)
        self.notice_seconds = GROUP_NOTICE_SECONDS
        self.background: Set["asyncio.Task[Any]"] = set()
        if not (config.token and config.secret_token):
            logger.warning("telegram channel not configured (token, secret_token): its webhook refuses every request")

    def get_output_channel(self) -> OutputChannel:
        return self.output

    def authenticate(self, request: Request) -> None:
        if not (self.config.token and self.config.secret_token):
            raise Rejected(403, "channel not configured")
        given = request.headers.get(SECRET_HEADER)
        if not given:
            raise Rejected(401, "no secret token")
        if not hmac.compare_digest(given.encode(), self.config.secret_token.encode()):
            raise Rejected(403, "secret token does not match")

    def parse(self, request: Request) -> Parsed:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise Rejected(400, "body is not JSON")
        parsed = parse_update(body, self.settings.catalan_variety, notice_seconds=self.notice_seconds)
        tapped = group_callback(body)
        if tapped:
            self.in_background(self.answer_callback(tapped))
        return parsed

    def store(self, parsed: Parsed) -> None:
        """A group notice is stored without a contact: it is nobody's conversation."""
        notices = [d for d in parsed.deliveries if is_group_notice(d.payload)]
        super().store(Parsed([d for d in parsed.deliveries if d not in notices], parsed.receipts))
        for notice in notices:
            if not self.inbound.accept(CHANNEL, notice.provider_id, notice.conversation_id, notice.payload):
                logger.debug("telegram: group already told in this period")

    async def handle(self, claimed: Claimed) -> None:
        """A group notice goes out as it is, without Rasa and without any tracker, unless the group
        had one within the period (notices of one group are handled one at a time, in order)."""
        if is_group_notice(claimed.payload):
            chat = self.config.chat(claimed.conversation_id)
            if chat is not None and not await asyncio.to_thread(self.output.told_recently, chat,
                                                                 self.notice_seconds):
                await self.output.send_group_notice(chat, str(claimed.payload[GROUP_NOTICE]))
            return
        await super().handle(claimed)

    def in_background(self, work: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no loop (a test calling parse directly)
            work.close()
            return
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def answer_callback(self, query_id: str) -> None:
        try:
            await self.api.call("answerCallbackQuery", {"callback_query_id": query_id})
        except SendError as error:
            logger.warning("telegram: answerCallbackQuery failed (%s)", error.code)

    async def turn(self, claimed: Claimed, events: List[Dict[str, Any]]) -> Optional[Turn]:
        update = claimed.payload
        if "callback_query" in update:
            query = update["callback_query"]
            try:
                await self.api.call("answerCallbackQuery", {"callback_query_id": str(query["id"])})
            except SendError as error:
                logger.warning("telegram: answerCallbackQuery failed (%s)", error.code)
            answered = await asyncio.to_thread(
                self.outbound.by_provider_id, CHANNEL,
                f"{query['message']['chat']['id']}:{query['message'].get('message_id')}")
            shown = list(answered.content.get("options") or []) if answered else []
            data = fmt.resolve_option(str(query.get("data") or ""), answered.content if answered else None)
            title = next((str(b.get("title", "")) for b in shown if str(b.get("payload", "")) == data), "")
            return chosen(data, title, offered_payloads(events) | {str(b.get("payload", "")) for b in shown})
        message = update["message"]
        if "text" in message:
            text = str(message["text"])
            if text.strip() == START or text.strip().startswith(START + " "):
                return GREET_INTENT, {}
            return citizen_text(text, offered_payloads(events)), {}
        if "location" in message:
            return LOCATION_INTENT, {"latitude": float(message["location"]["latitude"]),
                                     "longitude": float(message["location"]["longitude"])}
        for kind, field, default_type in (("image", "photo", "image/jpeg"), ("document", "document", None),
                                          ("audio", "voice", "audio/ogg"), ("audio", "audio", None),
                                          ("video", "video", None)):
            if field in message:
                item = message[field][-1] if field == "photo" else message[field]  # photo: largest size last
                reference = await self.fetch_media(kind, item, item.get("mime_type") or default_type or "")
                caption = str(message.get("caption") or "").strip()
                text = citizen_text(caption, offered_payloads(events)) if caption else MEDIA_INTENT
                return text, {"media": reference}
        return UNSUPPORTED_INTENT, {"unsupported": "telegram"}

    async def fetch_media(self, kind: str, item: Dict[str, Any], mime_type: str) -> Dict[str, Any]:
        async def fetch() -> StoredMedia:
            self.media.check(mime_type, item.get("file_size"))
            info, chunks = await self.api.download(str(item["file_id"]))
            return await self.media.save(kind, mime_type, chunks, info.get("file_size"))

        return await self.media.reference(kind, fetch)

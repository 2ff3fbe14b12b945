"""WhatsApp Cloud API channel (Meta): webhook in, Graph API out.

Enable it in credentials.yml as `vecina.channels.whatsapp.WhatsAppInput`; the values come from
the VECINA_WHATSAPP_* environment variables (docs/channels.md). Conversation ids are
`whatsapp:+<wa_id>`; an installation serving several numbers (phone_number_ids) keeps them
apart as `whatsapp:<phone_number_id>:+<wa_id>`, and answers from the number the citizen wrote to.
"""

from __future__ import annotations

import asyncio

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence, Text

import aiohttp
from rasa.core.channels.channel import OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from vecina.channels import whatsapp_format as fmt
from vecina.channels.inbound import Claimed
from vecina.channels.media import MediaRejected, MediaStore, StoredMedia, download
from vecina.channels.outbound import SEND_ERRORS, Outgoing, SendError, deliver, send_failure
from vecina.channels.payloads import citizen_text, offered_payloads
from vecina.channels.webhook import (LOCATION_INTENT, MEDIA_INTENT, UNSUPPORTED_INTENT, Delivery, Parsed, Receipt,
                                     RecordedOutput, Rejected, Turn, WebhookChannel, chosen)
from vecina.channels.window import REOPEN_PAYLOAD
from vecina.channels.worker import TransientError
from vecina.content import response_texts
from vecina.nlu.detection import detect
from vecina.settings import Settings, get_settings

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
IGNORED_TYPES = ("reaction",)
TEMPLATE_LANGUAGES = {"es": "es", "ca": "ca", "va": "ca"}
# Meta error codes worth retrying: throttling and temporary unavailability.
TRANSIENT_CODES = {"1", "2", "4", "17", "32", "613", "80007", "130429", "131016", "131048", "131056"}


@dataclass(frozen=True)
class WhatsAppConfig:
    base_url: str
    api_version: str
    access_token: str
    app_secret: str
    verify_token: str
    phone_number_ids: Sequence[str]
    reopen_template: str

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any], settings: Settings) -> "WhatsAppConfig":
        def value(key: str) -> str:
            found = credentials.get(key)
            return str(found).strip() if found not in (None, "") else str(getattr(settings, f"whatsapp_{key}"))

        numbers = value("phone_number_ids")
        return cls(value("base_url").rstrip("/"), value("api_version"), value("access_token"), value("app_secret"),
                   value("verify_token"), tuple(n.strip() for n in numbers.split(",") if n.strip()),
                   value("reopen_template"))

    def conversation_id(self, phone_number_id: str, wa_id: str) -> str:
        if len(self.phone_number_ids) > 1:
            return f"{CHANNEL}:{phone_number_id}:+{wa_id}"
        return f"{CHANNEL}:+{wa_id}"

    def target(self, conversation_id: str) -> Optional[tuple]:
        """(phone_number_id, wa_id) for one of our conversation ids, None for any other channel's."""
        parts = conversation_id.split(":")
        if parts[0] != CHANNEL or len(parts) not in (2, 3) or not parts[-1].startswith("+"):
            return None
        route = parts[1] if len(parts) == 3 else (self.phone_number_ids[0] if self.phone_number_ids else None)
        if route is None or route not in self.phone_number_ids:
            return None
        return route, parts[-1][1:]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def provider_time(value: Any) -> datetime:
    try:
        return datetime.utcfromtimestamp(int(value))
    except (TypeError, ValueError, OverflowError, OSError):
        raise Rejected(400, "bad timestamp")


def parse_notification(body: Any, config: WhatsAppConfig) -> Parsed:
    """Messages and statuses of a Meta webhook notification; `Rejected(400)` when it is malformed."""
    if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account" \
            or not isinstance(body.get("entry"), list):
        raise Rejected(400, "not a WhatsApp Business Account notification")
    parsed = Parsed()
    try:
        for entry in body["entry"]:
            for change in entry.get("changes") or []:
                if change.get("field") != "messages":
                    continue
                value = change["value"]
                number = str(value["metadata"]["phone_number_id"])
                if number not in config.phone_number_ids:
                    logger.warning("whatsapp: notification for a number this installation does not serve")
                    continue
                for message in value.get("messages") or []:
                    kind, wa_id = str(message["type"]), str(message["from"])
                    if kind in IGNORED_TYPES:
                        continue
                    if not wa_id.isdigit():
                        raise Rejected(400, "bad sender")
                    conversation = config.conversation_id(number, wa_id)
                    parsed.deliveries.append(Delivery(
                        str(message["id"]), conversation, wa_id, number, provider_time(message["timestamp"]),
                        {"message": message, "phone_number_id": number}))
                for status in value.get("statuses") or []:
                    errors = status.get("errors") or [{}]
                    code = errors[0].get("code")
                    parsed.receipts.append(Receipt(str(status["id"]), str(status["status"]),
                                                   provider_time(status["timestamp"]),
                                                   None if code is None else str(code)))
    except (KeyError, TypeError, AttributeError):
        raise Rejected(400, "notification without the expected fields")
    return parsed


class GraphApi:
    """The few Graph API calls the channel makes, with Meta's errors turned into `SendError`."""

    def __init__(self, config: WhatsAppConfig, timeout: float = 20) -> None:
        self.config = config
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def headers(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.config.access_token}"}

    async def send(self, phone_number_id: str, to: str, body: Dict[str, Any]) -> str:
        url = f"{self.config.base_url}/{self.config.api_version}/{phone_number_id}/messages"
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                   **{k: v for k, v in body.items() if k != "options"}}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.post(url, json=payload, headers=self.headers) as answer:
                    data = await answer.json(content_type=None)
                    if answer.status == 200:
                        return str(data["messages"][0]["id"])
                    code = str(((data or {}).get("error") or {}).get("code", answer.status))
                    raise SendError(code, answer.status >= 500 or answer.status == 429 or code in TRANSIENT_CODES)
        except SEND_ERRORS as error:
            raise send_failure(error)

    async def media_info(self, media_id: str) -> Dict[str, Any]:
        url = f"{self.config.base_url}/{self.config.api_version}/{media_id}"
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            async with session.get(url, headers=self.headers) as answer:
                if answer.status >= 500 or answer.status == 429:
                    raise TransientError(f"media info {answer.status}")
                if answer.status != 200:
                    raise MediaRejected("unavailable")
                return await answer.json(content_type=None)

    def download(self, url: str) -> AsyncIterator[bytes]:
        return download(url, self.timeout, headers=self.headers)


class WhatsAppOutput(RecordedOutput):
    def __init__(self, config: WhatsAppConfig, settings: Settings) -> None:
        super().__init__(settings)
        self.config = config
        self.api = GraphApi(config)

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    def labels(self, language: str) -> fmt.Labels:
        texts = response_texts(str(self.settings.domain_dir))
        return fmt.Labels(texts.text("utter_text_list_button", language),
                          texts.text("utter_text_more_options", language),
                          texts.text("utter_text_choose_option", language))

    def language_of(self, text: str, known: Optional[str]) -> str:
        """The language of the bot's own text (the conversation's slot may not be saved yet)."""
        detected = detect(text).language if text else None
        if detected == "ca":
            return known if known in ("ca", "va") else self.settings.catalan_variety
        return detected or known or "es"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        target = self.config.target(recipient_id)
        if target is None:
            logger.error("whatsapp: refused to send to a conversation of another channel")
            return
        contact = await asyncio.to_thread(self.contacts.get, recipient_id)
        language = self.language_of(str(message.get("text") or ""), contact.language if contact else None)
        custom = message.get("custom") or {}
        spec = custom.get("whatsapp_template") if isinstance(custom, dict) else None
        window_open = await asyncio.to_thread(self.contacts.window_open, contact)
        if spec and not (window_open and message.get("text")):
            # a message with its own text goes out as itself while the window is open
            bodies = [fmt.template_body(spec["name"], TEMPLATE_LANGUAGES[language], spec.get("parameters") or (),
                                        spec.get("quick_replies") or ())]
        else:
            bodies = fmt.render(message, self.labels(language))
            for body in bodies:
                if body["type"] == "interactive":
                    body["options"] = list(message.get("buttons") or message.get("quick_replies") or [])
        for body in bodies:
            if body["type"] == "template" or window_open:
                await self.send_now(recipient_id, target, body, message.get("utter_action"))
            else:
                await self.hold(recipient_id, target, body, message.get("utter_action"), language)

    async def send_now(self, recipient_id: str, target: tuple, body: Dict[str, Any],
                       response_name: Optional[str]) -> Optional[str]:
        record = await asyncio.to_thread(self.outbound.record, CHANNEL, recipient_id, body["type"], body,
                                         response_name)
        return await self.deliver(record, target)

    async def deliver(self, record: Outgoing, target: tuple) -> Optional[str]:
        route, to = target
        return await deliver(self.outbound, record, lambda message: self.api.send(route, to, message.content))

    async def hold(self, recipient_id: str, target: tuple, body: Dict[str, Any], response_name: Optional[str],
                   language: str) -> None:
        """Outside the 24-hour window (vecina.channels.window)."""
        if not await asyncio.to_thread(self.held.hold, recipient_id, body, body["type"], response_name):
            return
        if not self.config.reopen_template:
            logger.warning("whatsapp: 24-hour window closed and no VECINA_WHATSAPP_REOPEN_TEMPLATE: "
                           "message held until the citizen writes")
            return
        template = fmt.template_body(self.config.reopen_template, TEMPLATE_LANGUAGES[language],
                                     quick_replies=[REOPEN_PAYLOAD])
        await self.send_now(recipient_id, target, template, None)

    async def send_held(self, recipient_id: str) -> None:
        target = self.config.target(recipient_id)
        if target is not None:
            await self.held.release(recipient_id, lambda record: self.deliver(record, target))

    async def send_page(self, recipient_id: str, answered: Outgoing, page: int, language: str) -> None:
        target = self.config.target(recipient_id)
        options = answered.content.get("options") or []
        if target is None or not options:
            return
        body = fmt.options_body(self.labels(language).choose, options, self.labels(language), page)
        body["options"] = options
        await self.send_now(recipient_id, target, body, None)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


class WhatsAppInput(WebhookChannel):
    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WhatsAppInput":
        settings = get_settings()
        credentials = credentials or {}
        config = WhatsAppConfig.from_credentials(credentials, settings)
        limit = int(credentials.get("max_body_bytes") or 0) or None
        return cls(config, settings, **({"max_body_bytes": limit} if limit else {}))

    def __init__(self, config: WhatsAppConfig, settings: Optional[Settings] = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.config = config
        self.output = WhatsAppOutput(config, self.settings)
        self.api = GraphApi(config)
        self.media = MediaStore(self.settings.media_dir, self.settings.media_max_bytes)
        missing = [name for name in ("app_secret", "verify_token", "access_token") if not getattr(config, name)]
        if missing or not config.phone_number_ids:
            logger.warning("whatsapp channel not configured (%s): its webhook refuses every request",
                           ", ".join(missing + ([] if config.phone_number_ids else ["phone_number_ids"])))

    def get_output_channel(self) -> OutputChannel:
        return self.output

    def add_routes(self, blueprint: Blueprint) -> None:
        @blueprint.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            token = request.args.get("hub.verify_token") or ""
            if request.args.get("hub.mode") == "subscribe" and self.config.verify_token \
                    and hmac.compare_digest(token.encode(), self.config.verify_token.encode()):
                return response.text(request.args.get("hub.challenge") or "")
            logger.warning("whatsapp webhook verification refused")
            return response.text("forbidden", status=403)

    def authenticate(self, request: Request) -> None:
        if not self.config.app_secret:
            raise Rejected(403, "channel not configured")
        given = request.headers.get(SIGNATURE_HEADER)
        if not given:
            raise Rejected(401, "no signature")
        if not hmac.compare_digest(given.encode(), signature(self.config.app_secret, request.body).encode()):
            raise Rejected(403, "signature does not match")

    def parse(self, request: Request) -> Parsed:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise Rejected(400, "body is not JSON")
        return parse_notification(body, self.config)

    async def before_turn(self, claimed: Claimed) -> None:
        await self.output.send_held(claimed.conversation_id)

    async def turn(self, claimed: Claimed, events: List[Dict[str, Any]]) -> Optional[Turn]:
        message = claimed.payload["message"]
        kind = message.get("type")
        answered = await asyncio.to_thread(self.outbound.by_provider_id, CHANNEL,
                                           str((message.get("context") or {}).get("id") or ""))
        if kind == "text":
            return citizen_text(str(message["text"].get("body", "")), offered_payloads(events)), {}
        if kind == "interactive":
            reply = message["interactive"].get("button_reply") or message["interactive"].get("list_reply") or {}
            option, title = str(reply.get("id", "")), str(reply.get("title", ""))
            if option.startswith(fmt.MORE_PREFIX) and answered is not None:
                contact = await asyncio.to_thread(self.contacts.get, claimed.conversation_id)
                await self.output.send_page(claimed.conversation_id, answered,
                                            int(option[len(fmt.MORE_PREFIX):] or 2),
                                            (contact.language if contact else None) or "es")
                return None
            return chosen(fmt.resolve_option(option, answered.content if answered else None), title,
                               offered_payloads(events) | set(fmt.option_payloads(answered.content) if answered
                                                                else []))
        if kind == "button":
            payload, title = str(message["button"].get("payload", "")), str(message["button"].get("text", ""))
            if payload == REOPEN_PAYLOAD:
                return None  # the held messages went out in before_turn
            return chosen(payload, title, set(fmt.option_payloads(answered.content) if answered else []))
        if kind == "location":
            location = message["location"]
            return LOCATION_INTENT, {"latitude": float(location["latitude"]),
                                     "longitude": float(location["longitude"])}
        if kind in MEDIA_TYPES:
            media = message[kind]
            reference = await self.fetch_media(kind, media)
            caption = str(media.get("caption") or "").strip()
            text = citizen_text(caption, offered_payloads(events)) if caption else MEDIA_INTENT
            return text, {"media": reference}
        return UNSUPPORTED_INTENT, {"unsupported": str(kind)[:20]}

    async def fetch_media(self, kind: str, media: Dict[str, Any]) -> Dict[str, Any]:
        async def fetch() -> StoredMedia:
            self.media.check(str(media.get("mime_type", "")))
            info = await self.api.media_info(str(media["id"]))
            declared = int(info["file_size"]) if info.get("file_size") is not None else None
            return await self.media.save(kind, str(info.get("mime_type") or media.get("mime_type")),
                                         self.api.download(str(info["url"])), declared)

        return await self.media.reference(kind, fetch)

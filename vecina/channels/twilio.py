"""Twilio channels: messaging (SMS and WhatsApp through Twilio) and voice calls.

Both check `X-Twilio-Signature` against the public URL Twilio called (VECINA_TWILIO_PUBLIC_URL:
behind a TLS-terminating proxy the server cannot see it). Conversation ids carry the channel:
`twilio:+34…` (SMS), `twilio:whatsapp:+34…`, `twilio_voice:+34…`.

Messaging goes through the durable inbound path like the other webhook channels. Options are
numbered text lines; answering with the number picks the option. WhatsApp through Twilio has
the same 24-hour window as Meta's API: outside it the reopen template (a Content API `ContentSid`)
goes out once and the messages wait for the citizen's answer.

A call cannot wait for a worker — Twilio needs the words to say in the answer to its webhook —
so the voice channel runs the turn inside the request and answers with TwiML: the bot's words
read in the conversation's language (es-ES or ca-ES), its options as "press 1 for …", a
`<Gather>` that listens for speech or a key, a reprompt after silence, and a transfer
(`<Dial>` or `<Enqueue>`) when the citizen asks for a person.

A caller ID proves nothing (it can be spoofed), so what must reach only the number's owner — a
caller's appointments — is not said in the call: the action asks the channel, with a custom
payload (`SMS_TO_CALLER`), to text it to the number calling, which an impostor never receives.
The channel sends it by SMS to that number only (the signed `From`, never an address from the
action), at most `CALLER_SMS_PER_DAY` a day, so spoofed calls cannot flood someone's phone; when it
cannot be sent, the caller hears the action's alternative instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence, Text
from urllib.parse import parse_qsl, urlencode

import aiohttp
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Gather, VoiceResponse

from vecina.channels.inbound import Claimed
from vecina.channels.media import MediaStore, StoredMedia, download
from vecina.channels.outbound import SEND_ERRORS, Outgoing, RetryPolicy, SendError, deliver, send_failure
from vecina.channels.payloads import (citizen_text, latest_bot_turn, numbered_choice, offered_buttons,
                                      offered_payloads)
from vecina.channels.webhook import (DEFAULT_MAX_BODY_BYTES, LOCATION_INTENT, MEDIA_INTENT, Delivery, Parsed,
                                     Receipt, RecordedOutput, Rejected, Turn, WebhookChannel, chosen, too_large)
from vecina.channels.whatsapp_format import split_text
from vecina.channels.window import REOPEN_PAYLOAD
from vecina.content import response_texts
from vecina.settings import Settings, get_settings

logger = logging.getLogger(__name__)

CHANNEL, VOICE_CHANNEL = "twilio", "twilio_voice"
SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_PREFIX = "whatsapp:"
SMS_MAX = 1600  # Twilio's limit for one message body
STATUS_MAP = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed",
              "undelivered": "failed"}
TRANSIENT_CODES = {"20429", "20500", "20503", "30001"}  # rate limit, Twilio internal errors, queue overflow
SPEECH_LANGUAGES = {"es": "es-ES", "ca": "ca-ES", "va": "ca-ES"}
MAX_SILENCES = 2
GREET_INTENT = "/greet"
TRANSFER_INTENTS = ("human_handoff",)
HANG_UP_INTENTS = ("goodbye",)
# A bot message's custom payload asking to text the caller (actions/appointments.py, SMS_TO_CALLER):
# {"text": the SMS, "response": its response name, "otherwise": what to say instead when it cannot be sent}.
SMS_TO_CALLER = "sms_to_caller"
CALLER_SMS_KIND = "caller_sms"
CALLER_SMS_PER_DAY = 3  # per number: spoofed calls must not turn the town hall into an SMS flood
CALLER_SMS_TIMEOUT = 4  # seconds per attempt: Twilio waits about 15 s for the call's answer
CALLER_SMS_RETRY = RetryPolicy(attempts=2, first_delay=0.5)


@dataclass(frozen=True)
class TwilioConfig:
    base_url: str
    account_sid: str
    auth_token: str
    public_url: str
    sms_from: str
    whatsapp_from: str
    reopen_content_sid: str
    transfer_number: str
    transfer_queue: str
    voice_es: str
    voice_ca: str

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any], settings: Settings) -> "TwilioConfig":
        def value(key: str) -> str:
            found = credentials.get(key)
            return str(found).strip() if found not in (None, "") else str(getattr(settings, f"twilio_{key}"))

        return cls(*(value(key).rstrip("/") if key in ("base_url", "public_url") else value(key)
                     for key in cls.__dataclass_fields__))

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token and self.public_url)


def authenticate(config: TwilioConfig, request: Request) -> None:
    """`X-Twilio-Signature`: HMAC-SHA1 of the public URL plus the sorted form parameters."""
    if not config.configured:
        raise Rejected(403, "channel not configured")
    given = request.headers.get(SIGNATURE_HEADER)
    if not given:
        raise Rejected(401, "no signature")
    url = config.public_url + request.path + (f"?{request.query_string}" if request.query_string else "")
    params = form_fields(request) if "form-urlencoded" in (request.content_type or "") else {}
    if not RequestValidator(config.auth_token).validate(url, params, given):
        raise Rejected(403, "signature does not match")


def form_fields(request: Request) -> Dict[str, str]:
    """The form's fields, empty ones included: Twilio signs `Body=` too (Sanic's request.form drops it)."""
    try:
        return dict(parse_qsl((request.body or b"").decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise Rejected(400, "form is not UTF-8")


def form(request: Request) -> Dict[str, str]:
    if "application/x-www-form-urlencoded" not in (request.content_type or ""):
        raise Rejected(400, "not a form")
    return form_fields(request)


def numbered(text: str, buttons: Sequence[Dict[str, Any]], hint: str) -> str:
    """Options as numbered lines, for channels without buttons."""
    lines = [text.strip()] if text.strip() else []
    lines += [f"{number}. {button.get('title', '')}" for number, button in enumerate(buttons, start=1)]
    return "\n".join(lines + [hint])


def empty_twiml() -> HTTPResponse:
    return response.text('<?xml version="1.0" encoding="UTF-8"?><Response/>', content_type="text/xml")


class TwilioApi:
    def __init__(self, config: TwilioConfig, timeout: float = 20) -> None:
        self.config = config
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.auth = aiohttp.BasicAuth(config.account_sid, config.auth_token)

    async def send(self, fields: Dict[str, str]) -> str:
        url = f"{self.config.base_url}/2010-04-01/Accounts/{self.config.account_sid}/Messages.json"
        try:
            async with aiohttp.ClientSession(timeout=self.timeout, auth=self.auth) as session:
                async with session.post(url, data=fields) as answer:
                    data = await answer.json(content_type=None)
        except SEND_ERRORS as error:
            raise send_failure(error)
        if answer.status in (200, 201):
            return str(data["sid"])
        code = str((data or {}).get("code") or answer.status)
        raise SendError(code, answer.status >= 500 or answer.status == 429 or code in TRANSIENT_CODES)

    def download(self, url: str) -> AsyncIterator[bytes]:
        return download(url, self.timeout, auth=self.auth)


class TwilioOutput(RecordedOutput):
    def __init__(self, config: TwilioConfig, settings: Settings, timeout: float = 20) -> None:
        super().__init__(settings)
        self.config = config
        self.api = TwilioApi(config, timeout)

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @staticmethod
    def address(conversation_id: str) -> Optional[str]:
        prefix, _, address = conversation_id.partition(":")
        if prefix != CHANNEL or not address.replace(WHATSAPP_PREFIX, "").startswith("+"):
            return None
        return address

    def language(self, contact: Any) -> str:
        return (contact.language if contact else None) or "es"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        to = self.address(recipient_id)
        if to is None:
            logger.error("twilio: refused to send to a conversation of another channel")
            return
        contact = await asyncio.to_thread(self.contacts.get, recipient_id)
        whatsapp = to.startswith(WHATSAPP_PREFIX)
        sender = (contact.route if contact and contact.route else None) or \
            (self.config.whatsapp_from if whatsapp else self.config.sms_from)
        custom = message.get("custom") or {}
        if isinstance(custom, dict) and custom.get("twilio_template"):
            await self.send_template(recipient_id, sender, to, custom["twilio_template"], message.get("utter_action"))
            return
        text = str(message.get("text") or "")
        buttons = list(message.get("buttons") or message.get("quick_replies") or [])
        if buttons:
            hint = response_texts(str(self.settings.domain_dir)).text("utter_text_reply_with_number",
                                                                      self.language(contact))
            text = numbered(text, buttons, hint)
        bodies = [{"Body": chunk} for chunk in split_text(text, SMS_MAX)]
        if message.get("image"):
            bodies.append({"MediaUrl": str(message["image"])})
        window_open = not whatsapp or await asyncio.to_thread(self.contacts.window_open, contact)
        for body in bodies:
            fields = {"From": sender, "To": to, **body}
            if buttons:
                fields["options"] = json.dumps(buttons)
            if window_open:
                await self.deliver(await asyncio.to_thread(self.outbound.record, CHANNEL, recipient_id, "message",
                                                           fields, message.get("utter_action")))
            elif await asyncio.to_thread(self.held.hold, recipient_id, fields, "message", message.get("utter_action")):
                await self.reopen(recipient_id, sender, to)

    async def send_template(self, recipient_id: str, sender: str, to: str, spec: Dict[str, Any],
                            response_name: Optional[str]) -> None:
        """An approved Content API template (allowed outside the window): `content_sid`, `variables`
        ({"1": "…"}) and the payloads of its quick-reply buttons, kept to recognise the citizen's tap."""
        fields = {"From": sender, "To": to, "ContentSid": str(spec["content_sid"]),
                  "ContentVariables": json.dumps({str(k): str(v) for k, v in (spec.get("variables") or {}).items()}),
                  "options": json.dumps([{"payload": p} for p in spec.get("quick_replies") or []])}
        await self.deliver(await asyncio.to_thread(self.outbound.record, CHANNEL, recipient_id, "template", fields,
                                                   response_name))

    async def reopen(self, recipient_id: str, sender: str, to: str) -> None:
        if not self.config.reopen_content_sid:
            logger.warning("twilio: 24-hour window closed and no VECINA_TWILIO_REOPEN_CONTENT_SID: "
                           "message held until the citizen writes")
            return
        fields = {"From": sender, "To": to, "ContentSid": self.config.reopen_content_sid,
                  "ContentVariables": json.dumps({})}
        await self.deliver(await asyncio.to_thread(self.outbound.record, CHANNEL, recipient_id, "template", fields))

    async def deliver(self, record: Outgoing, policy: Optional[RetryPolicy] = None) -> Optional[str]:
        fields = {k: v for k, v in record.content.items() if k != "options"}
        if self.config.public_url:
            fields["StatusCallback"] = f"{self.config.public_url}/webhooks/{CHANNEL}/status"
        return await deliver(self.outbound, record, lambda _: self.api.send(fields), policy)

    def caller_texts_today(self, conversation_id: str) -> int:
        return self.outbound.recorded_since(conversation_id, self.outbound.clock() - timedelta(days=1),
                                            kind=CALLER_SMS_KIND)

    async def text_caller(self, caller: str, text: str, response_name: Optional[str]) -> bool:
        """Text a caller's own number (`+34…`, as Twilio signed it) by SMS; whether it went out.
        Past the day's limit nothing is sent again and the earlier text stands (True)."""
        if not (self.config.sms_from and caller.startswith("+") and text.strip()):
            return False
        conversation = f"{CHANNEL}:{caller}"
        if await asyncio.to_thread(self.caller_texts_today, conversation) >= CALLER_SMS_PER_DAY:
            logger.warning("twilio_voice: daily limit of texts to a caller reached, nothing sent")
            return True
        sent = True
        for chunk in split_text(text, SMS_MAX):
            record = await asyncio.to_thread(self.outbound.record, CHANNEL, conversation, CALLER_SMS_KIND,
                                             {"From": self.config.sms_from, "To": caller, "Body": chunk},
                                             response_name)
            sent = await self.deliver(record, CALLER_SMS_RETRY) is not None and sent
        return sent

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


class TwilioInput(WebhookChannel):
    """SMS and WhatsApp through Twilio: `/webhooks/twilio/webhook` and `/webhooks/twilio/status`."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TwilioInput":
        settings = get_settings()
        return cls(TwilioConfig.from_credentials(credentials or {}, settings), settings)

    def __init__(self, config: TwilioConfig, settings: Optional[Settings] = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.config = config
        self.api = TwilioApi(config)
        self.output = TwilioOutput(config, self.settings)
        self.media = MediaStore(self.settings.media_dir, self.settings.media_max_bytes)
        if not config.configured:
            logger.warning("twilio channel not configured (account_sid, auth_token, public_url): "
                           "its webhooks refuse every request")

    def get_output_channel(self) -> OutputChannel:
        return self.output

    def accepted(self) -> HTTPResponse:
        return empty_twiml()

    def authenticate(self, request: Request) -> None:
        authenticate(self.config, request)

    def add_routes(self, blueprint: Blueprint) -> None:
        @blueprint.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            return await self.receive(request)

    def parse(self, request: Request) -> Parsed:
        fields = form(request)
        if request.path.endswith("/status"):
            sid, status = fields.get("MessageSid"), fields.get("MessageStatus")
            if not sid or not status:
                raise Rejected(400, "status callback without MessageSid/MessageStatus")
            mapped = STATUS_MAP.get(status)
            receipts = [Receipt(sid, mapped, datetime.utcnow(), fields.get("ErrorCode"))] if mapped else []
            return Parsed(receipts=receipts)
        sid, sender = fields.get("MessageSid"), fields.get("From", "")
        if not sid or not sender.replace(WHATSAPP_PREFIX, "").startswith("+"):
            raise Rejected(400, "message without MessageSid/From")
        payload = {key: value for key, value in fields.items()
                   if key in ("Body", "NumMedia", "Latitude", "Longitude", "ButtonPayload", "ButtonText",
                              "OriginalRepliedMessageSid")
                   or key.startswith(("MediaUrl", "MediaContentType"))}
        return Parsed([Delivery(sid, f"{CHANNEL}:{sender}", sender, fields.get("To"), datetime.utcnow(), payload)])

    async def before_turn(self, claimed: Claimed) -> None:
        await self.output.held.release(claimed.conversation_id, self.output.deliver)

    async def turn(self, claimed: Claimed, events: List[Dict[str, Any]]) -> Optional[Turn]:
        fields = claimed.payload
        if fields.get("ButtonPayload"):
            if fields["ButtonPayload"] == REOPEN_PAYLOAD:
                return None
            answered = await asyncio.to_thread(self.outbound.by_provider_id, CHANNEL,
                                               fields.get("OriginalRepliedMessageSid", ""))
            options = json.loads(answered.content.get("options") or "[]") if answered else []
            return chosen(fields["ButtonPayload"], fields.get("ButtonText", ""),
                          offered_payloads(events) | {str(option.get("payload")) for option in options})
        if fields.get("Latitude") and fields.get("Longitude"):
            return LOCATION_INTENT, {"latitude": float(fields["Latitude"]), "longitude": float(fields["Longitude"])}
        body = fields.get("Body", "")
        if int(fields.get("NumMedia") or 0) > 0:
            reference = await self.fetch_media(fields.get("MediaUrl0", ""), fields.get("MediaContentType0", ""))
            return (citizen_text(body, offered_payloads(events)) if body.strip() else MEDIA_INTENT), \
                {"media": reference}
        choice = numbered_choice(body, offered_buttons(events))
        if choice is not None:
            return choice, {}
        return citizen_text(body, offered_payloads(events)), {}

    async def fetch_media(self, url: str, mime_type: str) -> Dict[str, Any]:
        kind = (mime_type.split("/")[0] if mime_type else "file").replace("application", "document")

        async def fetch() -> StoredMedia:
            self.media.check(mime_type)
            return await self.media.save(kind, mime_type, self.api.download(url))

        return await self.media.reference(kind, fetch)


class TwilioVoiceInput(InputChannel):
    """Phone calls: `/webhooks/twilio_voice/webhook` is the number's "a call comes in" URL."""

    @classmethod
    def name(cls) -> Text:
        return VOICE_CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TwilioVoiceInput":
        settings = get_settings()
        return cls(TwilioConfig.from_credentials(credentials or {}, settings), settings)

    def __init__(self, config: TwilioConfig, settings: Optional[Settings] = None) -> None:
        self.config = config
        self.settings = settings or get_settings()
        self.sms = TwilioOutput(config, self.settings, timeout=CALLER_SMS_TIMEOUT)
        if not config.configured:
            logger.warning("twilio_voice channel not configured: its webhook refuses every call")

    def blueprint(self, on_new_message: Any) -> Blueprint:
        hooks = Blueprint(f"vecina_{VOICE_CHANNEL}", __name__)

        @hooks.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hooks.route("/webhook", methods=["POST"])
        async def call(request: Request) -> HTTPResponse:
            if too_large(request, DEFAULT_MAX_BODY_BYTES):
                return response.json({"error": "request too large"}, status=413)
            try:
                authenticate(self.config, request)
                fields = form(request)
            except Rejected as rejection:
                logger.warning("twilio_voice webhook refused (%d): %s", rejection.status, rejection.reason)
                return response.json({"error": "refused"}, status=rejection.status)
            caller = fields.get("From", "")
            if not caller.startswith("+"):
                return response.json({"error": "malformed request"}, status=400)
            twiml = await self.answer(request, fields, f"{VOICE_CHANNEL}:{caller}", on_new_message)
            return response.text(str(twiml), content_type="text/xml")

        return hooks

    def texts(self, name: str, language: str) -> str:
        return response_texts(str(self.settings.domain_dir)).text(name, language)

    async def answer(self, request: Request, fields: Dict[str, str], conversation: str,
                     on_new_message: Any) -> VoiceResponse:
        agent = request.app.ctx.agent
        tracker = await agent.tracker_store.retrieve(conversation)
        events = [event.as_dict() for event in tracker.events] if tracker else []
        language = (tracker.get_slot("language") if tracker else None) or "es"
        silences = int(request.args.get("silence", "0") or 0)
        digits, speech = fields.get("Digits", "").strip(), fields.get("SpeechResult", "").strip()
        if not digits and not speech and silences:
            return self.reprompt(events, language, silences)
        if digits:
            text = numbered_choice(digits, offered_buttons(events)) or digits
        elif speech:
            text = citizen_text(speech, offered_payloads(events))
        else:
            text = GREET_INTENT  # the call has just started
        collector = CallCollector()
        await on_new_message(UserMessage(text, collector, conversation, input_channel=VOICE_CHANNEL,
                                         metadata={"call": fields.get("CallSid", "")[:64]}))
        tracker = await agent.tracker_store.retrieve(conversation)
        language = (tracker.get_slot("language") if tracker else None) or language
        intent = ((tracker.latest_message.intent or {}).get("name") if tracker else None) or ""
        messages = await self.text_caller(collector.messages, conversation.partition(":")[2])
        return self.speak(messages, language, intent)

    async def text_caller(self, messages: List[Dict[str, Any]], caller: str) -> List[Dict[str, Any]]:
        """Send what the bot asked to text the caller (SMS_TO_CALLER) to the number calling; the
        messages to say, each with its alternative when its text could not be sent."""
        said = []
        for message in messages:
            custom = message.get("custom")
            wanted = custom.get(SMS_TO_CALLER) if isinstance(custom, dict) else None
            if isinstance(wanted, dict):
                sent = await self.sms.text_caller(caller, str(wanted.get("text") or ""),
                                                  str(wanted.get("response") or "")[:100] or None)
                if not sent:
                    message = {**message, "text": str(wanted.get("otherwise") or "")}
            said.append(message)
        return said

    def say(self, parent: Any, text: str, language: str) -> None:
        voice = self.config.voice_ca if language in ("ca", "va") else self.config.voice_es
        parent.say(text, language=SPEECH_LANGUAGES[language], **({"voice": voice} if voice else {}))

    def listen(self, twiml: VoiceResponse, language: str, attempt: int) -> Gather:
        gather = Gather(input="speech dtmf", language=SPEECH_LANGUAGES[language], num_digits=1, timeout=6,
                        speech_timeout="auto", action=self.url(), method="POST", action_on_empty_result=False)
        twiml.append(gather)
        twiml.redirect(self.url(silence=attempt + 1), method="POST")
        return gather

    def url(self, **query: Any) -> str:
        return f"{self.config.public_url}/webhooks/{VOICE_CHANNEL}/webhook" + (f"?{urlencode(query)}" if query else "")

    def speak(self, messages: List[Dict[str, Any]], language: str, intent: str) -> VoiceResponse:
        twiml = VoiceResponse()
        transfer = intent in TRANSFER_INTENTS and (self.config.transfer_number or self.config.transfer_queue)
        if transfer:
            self.say(twiml, self.texts("utter_voice_transfer", language), language)
            if self.config.transfer_queue:
                twiml.enqueue(self.config.transfer_queue)
            else:
                twiml.dial(self.config.transfer_number)
            return twiml
        if intent in HANG_UP_INTENTS:
            for message in messages:
                if message.get("text"):
                    self.say(twiml, message["text"], language)
            twiml.hangup()
            return twiml
        gather = self.listen(twiml, language, 0)
        self.read_out(gather, messages, language)
        return twiml

    def read_out(self, parent: Any, messages: List[Dict[str, Any]], language: str) -> None:
        buttons: List[Dict[str, Any]] = []
        for message in messages:
            if message.get("text"):
                self.say(parent, str(message["text"]), language)
            buttons += list(message.get("buttons") or [])
        option = self.texts("utter_text_voice_option", language)
        for number, button in enumerate(buttons[:9], start=1):
            self.say(parent, option.format(title=button.get("title", ""), number=number), language)

    def reprompt(self, events: List[Dict[str, Any]], language: str, silences: int) -> VoiceResponse:
        """No answer: say so and repeat the last question; after too many silences, say goodbye."""
        twiml = VoiceResponse()
        if silences > MAX_SILENCES:
            self.say(twiml, self.texts("utter_voice_goodbye", language), language)
            twiml.hangup()
            return twiml
        gather = self.listen(twiml, language, silences)
        self.say(gather, self.texts("utter_voice_reprompt", language), language)
        last_turn = last_bot_messages(events)
        self.read_out(gather, last_turn, language)
        return twiml


class CallCollector(CollectingOutputChannel):
    """Collects the bot's messages whole (text, buttons and custom payload together)."""

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        self.messages.append({"recipient_id": recipient_id, **message})


def last_bot_messages(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The bot's latest turn as Rasa sent it (text and buttons), to say it again."""
    return [{"text": event.get("text"), "buttons": (event.get("data") or {}).get("buttons") or []}
            for event in latest_bot_turn(events)]

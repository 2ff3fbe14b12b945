"""Rasa bot messages as WhatsApp Cloud API message bodies, within Meta's limits.

- Up to 3 options whose titles fit (≤ 20 characters, unique): reply buttons.
- 4–10 options, or titles too long for buttons: a list message (row title ≤ 24 characters, the
  full title in the row's description, ≤ 72).
- More than 10: the list is paged, 9 options and a "more options" row; the tap on that row comes
  back with the list message's id as context, and the channel sends the next page.
Option ids are the Rasa payloads when they fit (≤ 200 characters); longer ones become
`vecina:option:<index>`, resolved through the stored message the citizen answered.
Texts longer than an interactive body (1,024) go first as text messages (≤ 4,096 each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

TEXT_MAX = 4096
BODY_MAX = 1024
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200
MENU_BUTTON_MAX = 20
MORE_PREFIX = "vecina:more:"
OPTION_PREFIX = "vecina:option:"


@dataclass(frozen=True)
class Labels:
    """The few words the channel adds around the bot's own text, in the citizen's language."""

    menu_button: str  # opens a list message
    more_options: str  # last row of a page when more follow
    choose: str  # body of the options when the text went before them


def shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int = TEXT_MAX) -> List[str]:
    """Chunks of at most `limit` characters, cut at paragraph, line or word boundaries."""
    chunks: List[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def option_id(payload: str, index: int, limit: int) -> str:
    return payload if len(payload) <= limit else f"{OPTION_PREFIX}{index}"


def text_bodies(text: str) -> List[Dict[str, Any]]:
    return [{"type": "text", "text": {"body": chunk, "preview_url": False}} for chunk in split_text(text)]


def options_body(body: str, buttons: Sequence[Mapping[str, Any]], labels: Labels, page: int = 1) -> Dict[str, Any]:
    """The interactive message offering `buttons` (page `page` of them when there are many)."""
    titles = [" ".join(str(b.get("title", "")).split()) for b in buttons]
    if len(buttons) <= BUTTONS_MAX and all(len(t) <= BUTTON_TITLE_MAX for t in titles) \
            and len(set(titles)) == len(titles):
        return {"type": "interactive", "interactive": {
            "type": "button", "body": {"text": body},
            "action": {"buttons": [{"type": "reply", "reply": {
                "id": option_id(str(b.get("payload", "")), i, BUTTON_ID_MAX), "title": titles[i]}}
                for i, b in enumerate(buttons)]}}}
    first = (page - 1) * (LIST_ROWS_MAX - 1)
    last_page = len(buttons) - first <= LIST_ROWS_MAX
    shown = range(first, len(buttons) if last_page else first + LIST_ROWS_MAX - 1)
    rows = []
    for index in shown:
        row = {"id": option_id(str(buttons[index].get("payload", "")), index, ROW_ID_MAX),
               "title": shorten(titles[index], ROW_TITLE_MAX)}
        if len(titles[index]) > ROW_TITLE_MAX:
            row["description"] = shorten(titles[index], ROW_DESCRIPTION_MAX)
        rows.append(row)
    if not last_page:
        rows.append({"id": f"{MORE_PREFIX}{page + 1}", "title": shorten(labels.more_options, ROW_TITLE_MAX)})
    return {"type": "interactive", "interactive": {
        "type": "list", "body": {"text": body},
        "action": {"button": shorten(labels.menu_button, MENU_BUTTON_MAX), "sections": [{"rows": rows}]}}}


def render(message: Mapping[str, Any], labels: Labels) -> List[Dict[str, Any]]:
    """The WhatsApp bodies (without `to` and `messaging_product`) for one Rasa bot message."""
    bodies: List[Dict[str, Any]] = []
    text = str(message.get("text") or "").strip()
    buttons = list(message.get("buttons") or message.get("quick_replies") or [])
    if buttons:
        if len(text) > BODY_MAX or not text:
            bodies += text_bodies(text) if text else []
            text = labels.choose
        bodies.append(options_body(text, buttons, labels))
    elif text:
        bodies += text_bodies(text)
    image = message.get("image")
    if image:
        bodies.append({"type": "image", "image": {"link": str(image)}})
    return bodies


def template_body(name: str, language: str, parameters: Sequence[str] = (),
                  quick_replies: Sequence[str] = ()) -> Dict[str, Any]:
    """An approved template, with body parameters and the payloads of its quick-reply buttons."""
    components: List[Dict[str, Any]] = []
    if parameters:
        components.append({"type": "body", "parameters": [{"type": "text", "text": str(p)} for p in parameters]})
    for index, payload in enumerate(quick_replies):
        components.append({"type": "button", "sub_type": "quick_reply", "index": str(index),
                           "parameters": [{"type": "payload", "payload": payload}]})
    return {"type": "template", "template": {"name": name, "language": {"code": language},
                                             "components": components}}


def option_payloads(content: Mapping[str, Any]) -> List[str]:
    """The payloads a stored outbound message offered (its options, or its template's quick replies)."""
    if "options" in content:
        return [str(b.get("payload", "")) for b in content["options"]]
    template = content.get("template") or {}
    return [p["payload"] for c in template.get("components", []) if c.get("sub_type") == "quick_reply"
            for p in c.get("parameters", []) if p.get("type") == "payload"]


def resolve_option(option: str, content: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The Rasa payload behind a tapped option id, given the stored message it answers."""
    if not option.startswith(OPTION_PREFIX):
        return option
    if content is None:
        return None
    try:
        return option_payloads(content)[int(option[len(OPTION_PREFIX):])]
    except (ValueError, IndexError):
        return None

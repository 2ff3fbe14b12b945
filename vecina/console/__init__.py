"""The staff console: a Flask application, server-rendered, with a little JavaScript for live
updates.

Rules:
- Sessions are server-side (vecina.services.staff); every unsafe request carries the session's
  CSRF token; every route but sign-in, health and static files needs a session.
- Citizen and staff text is only ever rendered as text: Jinja autoescaping in the templates,
  `textContent` in the scripts, no inline script (vecina.console.security sets the CSP). A page
  shows only the console's own notices: `?done=` names one, it never carries text.
- Who sees what is decided in the Desk (team scoping), never only by hiding links.
- Nothing a request carries is logged; errors are logged by type (vecina.console.security)."""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import date, timedelta
from functools import wraps
from typing import Any, Callable, Dict, Optional, Tuple

from flask import Flask, Response, abort, g, get_template_attribute, jsonify, redirect, render_template, request, \
    send_file, url_for
from markupsafe import Markup
from werkzeug.middleware.proxy_fix import ProxyFix

from vecina.console import security
from vecina.console.desk import FOLLOW_UP, OUTCOMES, REPLYABLE_CHANNELS, Desk, NotAllowed, NotFound, Refused
from vecina.kb.store import KbReader
from vecina.rasa_api import RasaApi
from vecina.services.handoff import canned_replies_for
from vecina.services.staff import LoginFailed, SignedIn, StaffDirectory, Throttled
from vecina.services.tickets import TicketStore, TicketView
from vecina.services.transcripts import TranscriptItem, TranscriptReader
from vecina.settings import Settings

PUBLIC_ENDPOINTS = {"login", "static", "health"}  # everything else needs a session
LIVE_ENDPOINTS = {"inbox_rows", "ticket_updates"}  # the pages' own refreshes: they keep no session alive
CHANNELS = ("whatsapp", "telegram", "twilio", "twilio_voice", "socketio", "rest")
LANGUAGES = ("es", "ca", "va")
POLL_SECONDS = 3


def create_app(settings: Settings, desk: Optional[Desk] = None) -> Flask:
    app = security.ConsoleFlask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    if settings.console_trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.console_trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.console_trusted_proxies)
    desk = desk or Desk(
        settings.database_url, TicketStore(settings.database_url),
        StaffDirectory(settings.database_url, idle_timeout=timedelta(minutes=settings.console_session_minutes)),
        RasaApi(settings.rasa_api_url, settings.rasa_jwt_secret, username="console"),
        TranscriptReader(settings.tracker_url), KbReader(settings.database_url), settings.media_dir)
    kb = desk.kb
    app.jinja_env.globals["age"] = age
    secure = settings.console_secure_cookies
    security.install(app, secure)
    session_cookie = "__Host-vecina-console" if secure else "vecina-console"
    login_cookie = "__Host-vecina-login" if secure else "vecina-login"

    def set_cookie(response: Response, name: str, value: str, max_age: Optional[int] = None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="Strict")

    def wants_json() -> bool:
        return request.accept_mimetypes.best == "application/json" or request.path.endswith((".json", "/updates"))

    @app.before_request
    def authenticate() -> Optional[Response]:
        g.signed_in = desk.staff.session(request.cookies.get(session_cookie),
                                         touch=request.endpoint not in LIVE_ENDPOINTS)
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        if g.signed_in is None:
            if wants_json() or request.method != "GET":
                return jsonify(error="login"), 401  # type: ignore[return-value]
            return redirect(url_for("login", next=request.full_path.rstrip("?")))
        if request.method not in ("GET", "HEAD"):
            sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
            if not hmac.compare_digest(sent.encode(), g.signed_in.csrf_token.encode()):
                return refuse("csrf", 403)
        return None

    def message(code: Optional[str], who: Any = "") -> str:
        """The console's text for `code`, as plain text ("" for a code it does not know)."""
        return Markup(get_template_attribute("_messages.html", "text")(code or "", who)).unescape()

    def refuse(code: str, status: int = 409, who: str = "") -> Any:
        if wants_json():
            return jsonify(error=code, message=message(code, who)), status
        return render_template("refused.html", text=message(code, who)), status

    def user_action(function: Callable[..., Any]) -> Callable[..., Any]:
        """Runs a view for the signed-in user, turning the desk's refusals into pages or JSON."""
        @wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(g.signed_in.user, *args, **kwargs)
            except NotAllowed:
                return refuse("forbidden", 403)
            except NotFound:
                abort(404)
            except Refused as refusal:
                return refuse(refusal.code, 409, refusal.who)
        return wrapper

    @app.context_processor
    def page_context() -> Dict[str, Any]:
        signed_in: Optional[SignedIn] = g.get("signed_in")
        return {"me": signed_in.user if signed_in else None, "csrf_token": signed_in.csrf_token if signed_in else "",
                "message": message, "poll_seconds": POLL_SECONDS,
                "sees_unattended": bool(signed_in and desk.sees_unattended(signed_in.user))}

    @app.get("/health")
    def health() -> Any:
        return jsonify(status="ok")

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        target = security.same_site_path(request.values.get("next")) or url_for("inbox")  # no open redirect
        if request.method == "GET":
            # the same token while the cookie lives: a second tab (or the favicon's redirect here)
            # must not invalidate the form already on screen
            token = request.cookies.get(login_cookie) or secrets.token_urlsafe(32)
            response = Response(render_template("login.html", login_token=token, next=target, error=None))
            set_cookie(response, login_cookie, token, max_age=3600)
            return response
        expected = request.cookies.get(login_cookie, "")
        if not expected or not hmac.compare_digest(expected.encode(), request.form.get("login_token", "").encode()):
            return refuse("csrf", 403)
        error, status = None, 200
        try:
            user = desk.staff.authenticate(request.form.get("username", ""), request.form.get("password", ""),
                                           request.remote_addr or "")
        except Throttled:
            error, status = "throttled", 429
        except LoginFailed:
            error, status = "login_failed", 401
        if error:
            token = secrets.token_urlsafe(32)
            response = Response(render_template("login.html", login_token=token, next=target, error=error),
                                status=status)
            set_cookie(response, login_cookie, token, max_age=3600)
            return response
        desk.staff.end_session(request.cookies.get(session_cookie))  # a new session on every sign-in
        token, _csrf = desk.staff.start_session(user)
        desk.tickets.audit(user.username, "login", "console")
        response = redirect(target)
        set_cookie(response, session_cookie, token)
        response.delete_cookie(login_cookie, path="/", secure=secure, httponly=True, samesite="Strict")
        return response

    @app.post("/logout")
    def logout() -> Any:
        desk.staff.end_session(request.cookies.get(session_cookie))
        desk.tickets.audit(g.signed_in.user.username, "logout", "console")
        response = redirect(url_for("login"))
        response.delete_cookie(session_cookie, path="/", secure=secure, httponly=True, samesite="Strict")
        return response

    @app.get("/")
    def home() -> Any:
        return redirect(url_for("inbox"))

    def filters() -> Dict[str, Optional[str]]:
        return {key: request.args.get(key) or None for key in ("team", "channel", "language")}

    def teams() -> Dict[str, str]:
        return {team.id: team.name["es"] for team in kb.current().teams.values()}

    def notice() -> Optional[str]:
        """The notice `?done=` names, if the console has one by that name (never text from the URL)."""
        code = request.args.get("done")
        return code if code and message(code, 0) else None

    @app.get("/inbox")
    @user_action
    def inbox(user: Any) -> Any:
        return render_template("inbox.html", tickets=desk.queue(user, **filters()), filters=filters(),
                               teams=desk.teams(user), channels=CHANNELS, languages=LANGUAGES,
                               now=desk.tickets.clock())

    @app.get("/inbox.json")
    @user_action
    def inbox_rows(user: Any) -> Any:
        now, names = desk.tickets.clock(), teams()
        return jsonify(tickets=[ticket_json(ticket, now, names) for ticket in desk.queue(user, **filters())])

    @app.get("/tickets/<int:ticket_id>")
    @user_action
    def ticket(user: Any, ticket_id: int) -> Any:
        current = desk.view(user, ticket_id)
        items = desk.transcript(current)
        notes = desk.notes(current)
        return render_template(
            "ticket.html", ticket=current, items=items, notes=notes, cursor=items[-1].cursor if items else 0,
            note_cursor=max([int(n["id"]) for n in desk.tickets.entries(current.id)] or [0]),
            canned=canned_replies_for(kb.current(), current.team), team=teams().get(current.team, current.team),
            outcomes=OUTCOMES, colleagues=desk.colleagues(current) if user.can("assign") else [],
            replyable=current.channel in REPLYABLE_CHANNELS, client_key=uuid.uuid4().hex, done=notice())

    @app.get("/tickets/<int:ticket_id>/updates")
    @user_action
    def ticket_updates(user: Any, ticket_id: int) -> Any:
        current = desk.peek(user, ticket_id)
        items = desk.transcript(current, after=request.args.get("after", 0, type=int))
        notes = desk.notes(current, after=request.args.get("notes_after", 0, type=int))
        return jsonify(status=current.status, claimed_by=current.claimed_by,
                       items=[item_json(current, item) for item in items],
                       notes=[{"id": n["id"], "author": n["author"], "text": n["text"], "kind": n["kind"],
                               "delivery": n["delivery"], "at": n["at"].isoformat() + "Z"} for n in notes])

    def done(ticket_id: int, code: str, **extra: Any) -> Any:
        if wants_json():
            return jsonify(done=code, message=message(code), client_key=uuid.uuid4().hex, **extra)
        return redirect(url_for("ticket", ticket_id=ticket_id, done=code))

    @app.post("/tickets/<int:ticket_id>/claim")
    @user_action
    def claim(user: Any, ticket_id: int) -> Any:
        desk.claim(user, ticket_id)
        return done(ticket_id, "claimed")

    @app.post("/tickets/<int:ticket_id>/assign")
    @user_action
    def assign(user: Any, ticket_id: int) -> Any:
        desk.assign(user, ticket_id, request.form.get("to", ""))
        return done(ticket_id, "assigned")

    @app.post("/tickets/<int:ticket_id>/reply")
    @user_action
    def reply(user: Any, ticket_id: int) -> Any:
        sent = desk.reply(user, ticket_id, request.form.get("text", ""), request.form.get("client_key", ""))
        code = {"sent": "sent", "failed": "not_sent"}.get(sent.delivery, "sending")
        return done(ticket_id, "repeated" if sent.repeated else code, delivery=sent.delivery)

    @app.post("/tickets/<int:ticket_id>/note")
    @user_action
    def note(user: Any, ticket_id: int) -> Any:
        desk.note(user, ticket_id, request.form.get("text", ""), request.form.get("client_key", ""))
        return done(ticket_id, "noted")

    @app.post("/tickets/<int:ticket_id>/close")
    @user_action
    def close(user: Any, ticket_id: int) -> Any:
        _closed, told = desk.close(user, ticket_id, request.form.get("outcome", ""))
        return done(ticket_id, "closed_told" if told else "closed_untold")

    @app.get("/tickets/<int:ticket_id>/media/<name>")
    @user_action
    def media(user: Any, ticket_id: int, name: str) -> Any:
        path, mime_type = desk.media(user, ticket_id, name)
        inline = mime_type in ("image/jpeg", "image/png", "image/webp")
        response = send_file(path, mimetype=mime_type, as_attachment=not inline, download_name=name, max_age=0)
        response.headers["Content-Security-Policy"] = security.FILE_CSP
        return response

    @app.get("/unattended")
    @user_action
    def unattended(user: Any) -> Any:
        found = desk.unattended(user, desk.tickets.clock(), timedelta(minutes=settings.console_quiet_minutes),
                                settings.console_quiet_days)
        return render_template("unattended.html", conversations=found, done=notice(),
                               quiet_minutes=settings.console_quiet_minutes, days=settings.console_quiet_days)

    @app.post("/unattended/follow-up")
    @user_action
    def follow_up(user: Any) -> Any:
        wanted = request.form.get("conversation_id", "")
        found = desk.unattended(user, desk.tickets.clock(), timedelta(minutes=settings.console_quiet_minutes),
                                settings.console_quiet_days)
        conversation = next((c for c in found if c.conversation_id == wanted), None)
        if conversation is None:
            raise Refused("handled")
        action = FOLLOW_UP if request.form.get("action") == FOLLOW_UP else "dismissed"
        opened = desk.follow_up(user, conversation, action)
        if opened is not None:
            return redirect(url_for("ticket", ticket_id=opened.id))
        return redirect(url_for("unattended", done="dismissed"))

    def office_and_day(user: Any, values: Any) -> Tuple[str, date]:
        office = values.get("office") or next(iter(desk.appointment_offices(user)), "")
        try:
            day = date.fromisoformat(values["day"]) if values.get("day") else desk.attendance.clock().date()
        except ValueError:
            raise Refused("day") from None
        return office, day

    def back_to_day(office: str, day: date, code: str, **extra: Any) -> Any:
        return redirect(url_for("appointments_day", office=office, day=day.isoformat(), done=code, **extra))

    @app.get("/appointments")
    @user_action
    def appointments_day(user: Any) -> Any:
        if settings.appointments_url:  # the town hall's own appointment system keeps attendance
            return render_template("appointments.html", external=True)
        office, day = office_and_day(user, request.args)
        return render_template(
            "appointments.html", external=False, office=office, day=day, offices=desk.appointment_offices(user),
            rows=desk.office_day(user, office, day) if office else [], done=notice(),
            marked=request.args.get("marked", 0, type=int),
            services={s.id: s.name["es"] for s in kb.current().appointment_services.values()},
            now=desk.attendance.clock(), previous=day - timedelta(days=1), following=day + timedelta(days=1))

    @app.post("/appointments/<int:appointment_id>/attendance")
    @user_action
    def attendance(user: Any, appointment_id: int) -> Any:
        outcome = request.form.get("outcome", "")
        office, day = desk.mark_attendance(user, appointment_id, outcome)
        return back_to_day(office, day, outcome)

    @app.post("/appointments/close-day")
    @user_action
    def close_day(user: Any) -> Any:
        office, day = office_and_day(user, request.form)
        return back_to_day(office, day, "no_shows_marked", marked=desk.close_day(user, office, day))

    @app.get("/audit")
    @user_action
    def audit(user: Any) -> Any:
        if not user.can("audit"):
            raise NotAllowed()
        target = request.args.get("target") or None
        rows = desk.tickets.audit_trail(target)[-500:][::-1]
        return render_template("audit.html", rows=rows, target=target)

    @app.errorhandler(404)
    def not_found(_error: Exception) -> Any:
        return refuse("not_found", 404)

    @app.errorhandler(413)
    def too_large(_error: Exception) -> Any:
        return refuse("too_large", 413)

    return app


def age(now: Any, then: Any) -> str:
    minutes = max(0, int((now - then).total_seconds() // 60))
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h" if minutes < 2880 else f"{minutes // 1440} d"


def ticket_json(ticket: TicketView, now: Any, teams: Dict[str, str]) -> Dict[str, Any]:
    return {"id": ticket.id, "priority": ticket.priority, "reason": ticket.reason, "team": teams.get(ticket.team,
            ticket.team), "channel": ticket.channel, "language": ticket.language, "status": ticket.status,
            "claimed_by": ticket.claimed_by or "", "age": age(now, ticket.created_at),
            "url": url_for("ticket", ticket_id=ticket.id)}


def item_json(ticket: TicketView, item: TranscriptItem) -> Dict[str, Any]:
    media: Optional[Tuple[str, str]] = None
    if item.media and item.media.get("file"):
        media = (url_for("media", ticket_id=ticket.id, name=str(item.media["file"])), str(item.media.get("kind")))
    return {"cursor": item.cursor, "at": item.at.isoformat() + "Z", "speaker": item.speaker, "kind": item.kind,
            "text": item.text, "options": list(item.options), "staff_name": item.staff_name,
            "media_url": media[0] if media else None, "media_kind": media[1] if media else None,
            "rejected": (item.media or {}).get("rejected"), "latitude": item.latitude, "longitude": item.longitude}

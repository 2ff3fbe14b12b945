"""Tables. The kb tables hold the editors' documents as loaded by `vecina kb load`."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class KbDocument(Base):
    """One kb file's content (plain JSON), keyed by its path relative to kb/."""

    __tablename__ = "kb_documents"

    path = Column(String(200), primary_key=True)
    content = Column(JSON, nullable=False)


class KbMeta(Base):
    __tablename__ = "kb_meta"

    key = Column(String(50), primary_key=True)
    value = Column(Text, nullable=False)
    updated_at = Column(DateTime(timezone=True), nullable=False)


class KbProcedureIndex(Base):
    """Queryable index of procedures for reports and other systems (content lives in kb_documents)."""

    __tablename__ = "kb_procedures"

    id = Column(String(100), primary_key=True)
    category = Column(String(40), nullable=False)
    popularity = Column(Integer, nullable=False)


class InboundMessage(Base):
    """A message a provider delivered to a webhook, kept until Rasa has handled it.

    (channel, provider_id) is unique, so a delivery the provider retries is stored once. Times are
    naive UTC. `available_at` is when the message may be claimed: the retry time while pending,
    the end of the worker's lease while processing. `attempts` also fences a worker whose lease
    ran out: only the holder of the latest attempt may finish the message.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id", name="uq_inbound_provider_id"),
        Index("ix_inbound_conversation", "conversation_id", "id"),
        Index("ix_inbound_status_available", "status", "available_at"),
    )

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(20), nullable=False)
    provider_id = Column(String(200), nullable=False)
    conversation_id = Column(String(200), nullable=False)
    payload = Column(JSON, nullable=False)
    status = Column(String(12), nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    failures = Column(Integer, nullable=False, default=0)  # attempts that failed because of the message itself
    received_at = Column(DateTime, nullable=False)
    available_at = Column(DateTime, nullable=False)
    finished_at = Column(DateTime)
    error = Column(String(200))


class ChannelContact(Base):
    """A citizen as a messaging channel knows them: where to reach them and when they last wrote.

    `route` is the provider-side identity the citizen wrote to (a WhatsApp phone_number_id), so the
    answer leaves from the same number. `last_inbound_at` (naive UTC, the provider's timestamp of
    the citizen's message) opens WhatsApp's 24-hour customer-service window.
    """

    __tablename__ = "channel_contacts"

    conversation_id = Column(String(200), primary_key=True)
    channel = Column(String(20), nullable=False)
    address = Column(String(100), nullable=False)
    route = Column(String(100))
    language = Column(String(2))
    last_inbound_at = Column(DateTime)


class OutboundMessage(Base):
    """A message sent (or to be sent) to a citizen, with its delivery outcome.

    `status`: held (waiting for the citizen to reopen the 24-hour window), sending, sent,
    delivered, read or failed. Provider receipts only move it forward; the time of each step is
    kept for reports. `content` is the provider payload, so a held message can be sent later and a
    long list can be paged.
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id", name="uq_outbound_provider_id"),
        Index("ix_outbound_conversation", "conversation_id", "id"),
    )

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(20), nullable=False)
    conversation_id = Column(String(200), nullable=False)
    kind = Column(String(20), nullable=False)
    response = Column(String(100))
    content = Column(JSON, nullable=False)
    status = Column(String(12), nullable=False)
    provider_id = Column(String(200))
    attempts = Column(Integer, nullable=False, default=0)
    error_code = Column(String(40))
    created_at = Column(DateTime, nullable=False)
    sent_at = Column(DateTime)
    delivered_at = Column(DateTime)
    read_at = Column(DateTime)
    failed_at = Column(DateTime)


OPEN_TICKET = "status IN ('open', 'claimed')"


class Ticket(Base):
    """A conversation handed to a person. While it is open or claimed the bot stays silent in that
    conversation; at most one such ticket exists per conversation (partial unique index)."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("uq_ticket_open_per_conversation", "conversation_id", unique=True,
              sqlite_where=text(OPEN_TICKET), postgresql_where=text(OPEN_TICKET)),
        Index("ix_ticket_queue", "status", "priority", "created_at"),
    )

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(200), nullable=False)
    channel = Column(String(20), nullable=False)
    language = Column(String(2), nullable=False)
    team = Column(String(100), nullable=False)
    reason = Column(String(30), nullable=False)
    priority = Column(Integer, nullable=False)  # 1 = most urgent
    status = Column(String(12), nullable=False)
    procedure = Column(String(100))
    centre = Column(String(100))
    summary = Column(JSON, nullable=False)
    created_at = Column(DateTime, nullable=False)
    claimed_by = Column(String(100))
    claimed_at = Column(DateTime)
    closed_at = Column(DateTime)
    closed_by = Column(String(100))
    outcome = Column(String(30))


class TicketEntry(Base):
    """What was said in a ticket: the citizen's messages, staff replies, internal notes.
    `client_key` makes a staff reply idempotent (a double click sends it once)."""

    __tablename__ = "ticket_entries"
    __table_args__ = (UniqueConstraint("ticket_id", "client_key", name="uq_ticket_entry_client_key"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(Integer, nullable=False, index=True)
    kind = Column(String(12), nullable=False)  # citizen | staff | note
    author = Column(String(100))
    text = Column(Text, nullable=False)
    client_key = Column(String(64))
    created_at = Column(DateTime, nullable=False)
    delivery = Column(String(10))  # staff replies: sending | sent | failed


class AuditEntry(Base):
    """Every staff action. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime, nullable=False)
    actor = Column(String(100), nullable=False)
    action = Column(String(30), nullable=False)
    target = Column(String(200))
    detail = Column(JSON)


class StaffUser(Base):
    """A person who signs in to the staff console. `teams` empty: every team."""

    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True, autoincrement=True)
    username = Column(String(60), nullable=False, unique=True)
    display_name = Column(String(100), nullable=False)
    role = Column(String(12), nullable=False)  # agent | supervisor | admin
    teams = Column(JSON, nullable=False)
    password_hash = Column(String(200), nullable=False)  # argon2id
    active = Column(Boolean, nullable=False)
    created_at = Column(DateTime, nullable=False)
    password_changed_at = Column(DateTime, nullable=False)


class StaffSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "staff_sessions"

    token_hash = Column(String(64), primary_key=True)
    user_id = Column(Integer, nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False)
    last_seen_at = Column(DateTime, nullable=False)
    ended_at = Column(DateTime)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_username_at", "username", "at"),
                      Index("ix_login_attempts_remote_at", "remote", "at"))

    id = Column(Integer, primary_key=True, autoincrement=True)
    username = Column(String(60), nullable=False)
    remote = Column(String(64), nullable=False)
    at = Column(DateTime, nullable=False)
    succeeded = Column(Boolean, nullable=False)


class Followup(Base):
    """A quiet conversation (fallback or abandoned) that staff dealt with, for that quiet period."""

    __tablename__ = "followups"
    __table_args__ = (UniqueConstraint("conversation_id", "quiet_since", name="uq_followup_quiet_period"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(200), nullable=False)
    quiet_since = Column(DateTime, nullable=False)
    handled_by = Column(String(60), nullable=False)
    handled_at = Column(DateTime, nullable=False)
    action = Column(String(20), nullable=False)  # dismissed | ticket


HOLDS_SLOT = "status <> 'cancelled'"


class Appointment(Base):
    """A booked appointment. Times are the municipality's local wall-clock time. The partial unique
    index makes booking atomic: one live appointment per office, service, time and desk."""

    __tablename__ = "appointments"
    __table_args__ = (
        Index("uq_appointment_slot", "office", "service", "starts_at", "desk", unique=True,
              sqlite_where=text(HOLDS_SLOT), postgresql_where=text(HOLDS_SLOT)),
        Index("ix_appointment_citizen", "conversation_id", "starts_at"),
        Index("ix_appointment_day", "starts_at", "status"),
    )

    id = Column(Integer, primary_key=True, autoincrement=True)
    office = Column(String(100), nullable=False)
    service = Column(String(100), nullable=False)
    starts_at = Column(DateTime, nullable=False)
    ends_at = Column(DateTime, nullable=False)
    desk = Column(Integer, nullable=False)
    conversation_id = Column(String(200), nullable=False)
    channel = Column(String(20), nullable=False)
    language = Column(String(2), nullable=False)
    phone = Column(String(32))
    reason = Column(String(500))
    status = Column(String(12), nullable=False)  # booked | confirmed | cancelled | attended | no_show
    request_key = Column(String(100), unique=True)  # a retried booking request finds its appointment
    created_at = Column(DateTime, nullable=False)
    updated_at = Column(DateTime, nullable=False)
    cancelled_at = Column(DateTime)


class WaitingEntry(Base):
    """A citizen who found no slot they could take, in the order they asked."""

    __tablename__ = "waiting_list"
    __table_args__ = (Index("ix_waiting_list_match", "office", "service", "status", "created_at"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    office = Column(String(100), nullable=False)
    service = Column(String(100), nullable=False)
    conversation_id = Column(String(200), nullable=False)
    channel = Column(String(20), nullable=False)
    language = Column(String(2), nullable=False)
    earliest = Column(Date, nullable=False)
    latest = Column(Date)
    part_of_day = Column(String(10))
    status = Column(String(12), nullable=False)  # waiting | offered | booked | withdrawn
    created_at = Column(DateTime, nullable=False)
    offered_at = Column(DateTime)
    offered_slot = Column(DateTime)
    notified_at = Column(DateTime)  # the offer went out (the scheduler sends each offer once)
    notify_failure = Column(String(40))


class Reminder(Base):
    """The reminder of one appointment (at most one: a repeated run sends nothing new). Times are
    local wall-clock time, like the appointments'."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_status", "status", "expires_at"),
                      Index("ix_reminders_outbound", "outbound_id"))

    id = Column(Integer, primary_key=True, autoincrement=True)
    appointment_id = Column(Integer, nullable=False, unique=True)
    conversation_id = Column(String(200), nullable=False)
    channel = Column(String(20), nullable=False)
    status = Column(String(12), nullable=False)  # pending | sent | delivered | read | failed | answered | expired
    failure = Column(String(40))  # why it could not be sent or delivered (no_contact, provider code, ...)
    created_at = Column(DateTime, nullable=False)
    sent_at = Column(DateTime)
    delivered_at = Column(DateTime)
    read_at = Column(DateTime)
    failed_at = Column(DateTime)
    answer = Column(String(12))  # confirmed | cancelled
    answered_at = Column(DateTime)
    expires_at = Column(DateTime)  # answers after this get the polite "expired" reply
    expired_at = Column(DateTime)
    outbound_id = Column(Integer)  # the outbound message that carried it: its receipts are the reminder's

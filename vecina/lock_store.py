"""Rasa's conversation lock on Redis, safe across replicas (named through endpoints.yml).

Rasa Open Source's `RedisLockStore` changes a conversation's ticket lock by reading it, changing
it in the process and writing it back. Two replicas issuing tickets at the same moment both read
ticket N and both write N+1: both believe they hold the conversation, and two turns of one
citizen run at once (a trigger_intent from the console or the scheduler beside a message). Here
every change of a lock is one Redis transaction (WATCH/MULTI, retried on a conflict), so each
ticket is issued exactly once and a finished ticket never removes another's.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional, Tuple, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

T = TypeVar("T")
Change = Callable[[Optional[TicketLock]], Tuple[T, Optional[TicketLock]]]


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        """Rasa builds a custom lock store from its endpoint configuration; tests pass the fields."""
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs}
        super().__init__(**kwargs)

    def _change(self, conversation_id: str, change: Change) -> T:
        """Apply `change` (old lock → result, new lock or None to delete it) atomically."""
        key = self.key_prefix + conversation_id

        def attempt(pipe):  # type: ignore[no-untyped-def]
            stored = pipe.get(key)
            result, lock = change(TicketLock.from_dict(json.loads(stored)) if stored else None)
            pipe.multi()
            if lock is None:
                pipe.delete(key)
            else:
                pipe.set(key, lock.dumps())
            return result

        return self.red.transaction(attempt, key, value_from_callable=True)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def issue(lock: Optional[TicketLock]) -> Tuple[int, TicketLock]:
            lock = lock or TicketLock(conversation_id)
            return lock.issue_ticket(lock_lifetime), lock

        try:
            return self._change(conversation_id, issue)
        except Exception as error:
            raise LockError(f"Error while acquiring lock ({type(error).__name__})") from error

    def update_lock(self, conversation_id: str) -> None:
        def expire(lock: Optional[TicketLock]) -> Tuple[None, Optional[TicketLock]]:
            if lock is not None:
                lock.remove_expired_tickets()
            return None, lock

        self._change(conversation_id, expire)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def finish(lock: Optional[TicketLock]) -> Tuple[None, Optional[TicketLock]]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return None, lock

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Remove the ticket, and the lock with it when nobody else waits."""
        def finish(lock: Optional[TicketLock]) -> Tuple[None, Optional[TicketLock]]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return None, lock if lock.is_someone_waiting() else None

        self._change(conversation_id, finish)

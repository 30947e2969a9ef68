"""Server-side dialogue sessions: each keeps its persona and history, expires after being idle, and the least
recently used one makes way when the store is full."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class Session:
    id: str
    persona: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)  # user and bot turns, oldest first
    touched: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)


class SessionStore:
    def __init__(self, max_sessions: int = 1000, ttl_seconds: float = 3600.0, max_turns: int = 50,
                 clock=time.monotonic):  # fmt: skip
        self.max_sessions, self.ttl, self.max_turns, self.clock = max_sessions, ttl_seconds, max_turns, clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self.evicted = 0  # made way for newer sessions
        self.expired = 0  # idle for longer than the ttl

    def __len__(self) -> int:
        self._expire()
        return len(self._sessions)

    def create(self, persona: list[str] | None = None) -> Session:
        self._expire()
        while len(self._sessions) >= self.max_sessions:
            self._sessions.popitem(last=False)
            self.evicted += 1
        session = Session(secrets.token_urlsafe(16), list(persona or []), [], self.clock())
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        """The session, marked as just used; None when unknown or expired."""
        self._expire()
        session = self._sessions.get(session_id)
        if session is not None:
            session.touched = self.clock()
            self._sessions.move_to_end(session_id)
        return session

    def delete(self, session_id: str) -> bool:
        return self._sessions.pop(session_id, None) is not None

    def add_turns(self, session: Session, *turns: str) -> None:
        """Append turns, keeping the last `max_turns` (older ones fall out of the model's context anyway)."""
        session.history.extend(turns)
        del session.history[: -self.max_turns]

    def _expire(self) -> None:
        now = self.clock()
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if now - oldest.touched <= self.ttl:
                break
            self._sessions.popitem(last=False)
            self.expired += 1

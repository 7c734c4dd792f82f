"""What a cluster backend saw happen to its pods, in time order.

Backends append; the harness copies the list into the scenario history, where
checkers read it (crash loops are container exits nobody asked for). Times
are on the monotonic clock, like every time the harness records; the
history makes them relative to the scenario's start.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    time: float
    kind: str
    pod: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Event:
        return cls(raw["time"], raw["kind"], raw.get("pod"), dict(raw.get("detail") or {}))


class EventLog:
    """Thread-safe append-only list of events."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def record(self, kind: str, pod: str | None = None, **detail: Any) -> Event:
        event = Event(time.monotonic(), kind, pod, detail)
        with self._lock:
            self._events.append(event)
        return event

    def since(self, start: float) -> list[Event]:
        with self._lock:
            return [e for e in self._events if e.time >= start]

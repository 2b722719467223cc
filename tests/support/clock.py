"""A clock the test moves by hand: time is a parameter, never a sleep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    @property
    def unix(self) -> int:
        return int(self.now.timestamp())

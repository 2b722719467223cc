"""A clock the test moves by hand: time is a parameter, never a sleep."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gateway.services import utc_now

if TYPE_CHECKING:
    from tests.support.world import World


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


@contextmanager
def gateway_clock(world: World, start: datetime) -> Iterator[Clock]:
    """The in-process gateway's clock replaced by one the test moves, from ``start``."""
    moving = Clock(start)
    world.gateway.services.clock = moving
    try:
        yield moving
    finally:
        world.gateway.services.clock = utc_now


def post_at(world: World, clock: Clock, actor: Any, query: str, variables: dict[str, Any] | None = None,
            *, order: str | None = None) -> Any:
    """A signed request whose token is minted at the moved clock's time."""
    return world.gateway.post(actor, query, variables=variables, order=order, now=clock.unix)

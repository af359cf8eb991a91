"""The relay's queue toward a receiver: bursts wait here for their air time (and delay) and
then for the receiver's stream to take them. Bounded in bytes (per stream and for the whole
relay) and in age (how long a burst that has landed may wait for the receiver); what does not
fit or grows too old is dropped, and ``on_drop`` tells the sender. No protobuf here: items
are opaque."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_STREAM_BYTES = 32 * 1024 * 1024  # one stream's bursts on their way to the receiver
MAX_TOTAL_BYTES = 128 * 1024 * 1024  # every stream's together
MAX_AGE_S = 2.0  # a burst that landed this long ago and is still not taken is dropped


class ByteBudget:
    """Bytes queued by every stream of one relay."""

    def __init__(self, limit: int = MAX_TOTAL_BYTES) -> None:
        self.limit = limit
        self.used = 0


@dataclass
class _Item(Generic[T]):
    at: float  # loop time when it has landed at the receiver's side
    item: T
    size: int
    droppable: bool


class DownlinkQueue(Generic[T]):
    """FIFO of items due at loop times; ``get`` waits for the head's time. ``put`` refuses an
    item over the byte bounds; items that waited more than ``max_age_s`` after landing are
    dropped (``on_drop(item, reason)``) instead of delivered."""

    def __init__(
        self,
        on_drop: Callable[[T, str], None],
        budget: ByteBudget | None = None,
        max_bytes: int = MAX_STREAM_BYTES,
        max_age_s: float = MAX_AGE_S,
    ) -> None:
        self.on_drop = on_drop
        self.budget = budget or ByteBudget()
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.bytes = 0
        self.dropped = 0
        self._items: collections.deque[_Item[T]] = collections.deque()
        self._changed = asyncio.Event()
        self._closed = False
        self._loop = asyncio.get_running_loop()

    def fits(self, size: int) -> bool:
        return self.bytes + size <= self.max_bytes and self.budget.used + size <= self.budget.limit

    def put(self, at: float, item: T, size: int = 0, droppable: bool = True) -> bool:
        """Queue ``item`` due at ``at``; False (and nothing queued) when it does not fit."""
        self._expire(self._loop.time())
        if droppable and not self.fits(size):
            return False
        self._items.append(_Item(at, item, size, droppable))
        self._take(size)
        self._changed.set()
        return True

    def close(self) -> None:
        """No more items: ``get`` returns None once the queue is empty."""
        self._closed = True
        self._changed.set()

    def clear(self) -> None:
        """Forget everything queued (the stream ended): its bytes return to the budget."""
        while self._items:
            self._take(-self._items.popleft().size)

    async def get(self) -> T | None:
        while True:
            now = self._loop.time()
            self._expire(now)
            if self._items:
                head = self._items[0]
                if head.at <= now:
                    self._items.popleft()
                    self._take(-head.size)
                    return head.item
                self._changed.clear()
                try:  # its time, or something that changes the head (it never comes earlier)
                    await asyncio.wait_for(self._changed.wait(), head.at - now)
                except TimeoutError:
                    pass
                continue
            if self._closed:
                return None
            self._changed.clear()
            await self._changed.wait()

    def _expire(self, now: float) -> None:
        while self._items and self._items[0].droppable and now - self._items[0].at > self.max_age_s:
            old = self._items.popleft()
            self._take(-old.size)
            self.dropped += 1
            self.on_drop(old.item, f"waited over {self.max_age_s:g} s at the relay for the receiver")

    def _take(self, size: int) -> None:
        self.bytes += size
        self.budget.used += size

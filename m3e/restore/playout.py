"""Play-out buffer: puts decoded units back in order and decides when to stop waiting.

Retransmissions make units arrive out of order. Each modality numbers its units
(frame 0, 1, 2, ...); the buffer releases them in that order. A missing unit is skipped
when the receiver has given up on it, or when a later unit has already waited
``delay_s`` (the sender may never resend it: feedback can be lost). A skipped unit is
released as ``None`` so the player can freeze or conceal in its place.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class PlayoutBuffer(Generic[T]):
    def __init__(self, delay_s: float = 0.3) -> None:
        if delay_s < 0:
            raise ValueError(f"play-out delay must be >= 0, got {delay_s}")
        self.delay_s = delay_s
        self.next_index = 0
        self._items: dict[int, tuple[float, T]] = {}
        self._given_up: set[int] = set()
        self.skipped = 0
        self.late = 0

    def put(self, index: int, item: T, now: float) -> None:
        """A unit arrived (decoded) at time ``now``; units already played out are dropped."""
        if index < self.next_index:
            self.late += 1
            return
        self._items.setdefault(index, (now, item))

    def give_up(self, index: int) -> None:
        """The receiver will not get unit ``index``; do not wait for it."""
        if index >= self.next_index:
            self._given_up.add(index)

    def pop_ready(self, now: float) -> list[tuple[int, T | None]]:
        """Units to play now, in order: (index, item) or (index, None) for a skipped one."""
        out: list[tuple[int, T | None]] = []
        while True:
            i = self.next_index
            if i in self._items:
                out.append((i, self._items.pop(i)[1]))
            elif i in self._given_up or self._waited_too_long(now):
                self._given_up.discard(i)
                self.skipped += 1
                out.append((i, None))
            else:
                return out
            self.next_index += 1

    def _waited_too_long(self, now: float) -> bool:
        if not self._items:
            return False
        oldest = min(t for t, _ in self._items.values())
        return now - oldest >= self.delay_s

    def __len__(self) -> int:
        return len(self._items)

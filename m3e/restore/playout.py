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


class PacedPlayout(Generic[T]):
    """Frames that arrive in batches, played at the frame rate: frame i at its capture time
    plus one delay ``D``, ``D`` the largest lateness of a batch that arrived in the last
    ``window_s`` (a batch's lateness: its first frame's time from capture to arrival, the
    longest of its frames).

    M3E's interpolation mode needs it: the frames between two keyframes exist only once the
    later keyframe is decoded, so they come a keyframe interval at a time, and a page showing
    the newest frame skipped all but the last of each batch (on a 10-s clip the page got 20
    pictures, up to 59 frames apart). Paced, they play one after another; the price is the
    mode's true latency, a keyframe interval plus the sentence's, for every frame. The window
    lets ``D`` fall again after a long interval (a still scene holds a keyframe up to 10 s):
    the frames then due at once are a jump ahead, as a jitter buffer shrinks."""

    def __init__(self, fps: float, window_s: float = 10.0) -> None:
        if fps <= 0 or window_s <= 0:
            raise ValueError(f"need fps > 0 and window_s > 0, got {fps} and {window_s}")
        self.fps, self.window_s = fps, window_s
        self._waiting: list[tuple[int, T]] = []  # in frame order
        self._lateness: list[tuple[float, float]] = []  # (arrival, lateness) of recent batches
        self._clock: float | None = None  # wall time of frame 0's capture

    @property
    def delay_s(self) -> float:
        return max((late for _, late in self._lateness), default=0.0)

    def put(self, frames: list[tuple[int, T]], clock: float | None, now: float) -> None:
        """A batch of (frame index, item) in order, arriving at wall time ``now``; ``clock``:
        the wall time frame 0 was captured (None while unknown: the frames are due at once)."""
        if not frames:
            return
        self._clock = clock
        if clock is not None:
            self._lateness = [(t, late) for t, late in self._lateness if now - t < self.window_s]
            self._lateness.append((now, now - self.captured(frames[0][0])))
        self._waiting += frames

    def captured(self, index: int) -> float:
        """Wall time frame ``index`` was captured (0 while the clock is unknown)."""
        return 0.0 if self._clock is None else self._clock + index / self.fps

    def due(self, now: float) -> list[tuple[int, T]]:
        """The frames whose play-out time has come, in order."""
        if self._clock is None:
            out, self._waiting = self._waiting, []
            return out
        deadline = now - self.delay_s
        n = next((i for i, (index, _) in enumerate(self._waiting) if self.captured(index) > deadline), None)
        out, self._waiting = (self._waiting, []) if n is None else (self._waiting[:n], self._waiting[n:])
        return out

    def __len__(self) -> int:
        return len(self._waiting)

    def rest(self) -> list[tuple[int, T]]:
        """Every frame still waiting (the stream has ended)."""
        out, self._waiting = self._waiting, []
        return out

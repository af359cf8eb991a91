"""The channel core of the emulator: a route's channel and each stream's through it.

Every burst's symbols go through ``BlockFadingChannel`` (y = h·x + w, paper eq 6–7) and take
``n / symbol_rate`` seconds on air one after another plus the propagation delay; they leave
with the noise variance attached (the receiver's SNR knowledge) and the genie reference
stripped. Feedback travels back with its own delay and loss. Every stream has a channel
of its own (``StreamChannel``) with its route's settings; statistics per stream and per route.
No protobuf here: the servicers (``channel_emulator.server``) convert at the edge.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import time

import numpy as np

from m3e.config import Settings
from m3e.phy.channels import FADINGS, BlockFadingChannel
from m3e.wire.messages import Burst, ChannelSettings, ChannelStats

log = logging.getLogger("m3e.relay")
MAX_BACKLOG_S = 2.0  # a burst that would wait longer than this for the air is dropped


def channel_settings(s: Settings | None = None, direction: str = "") -> ChannelSettings:
    """The channel's part of ``s`` (None: the defaults of ``m3e.config.Settings``, which every
    route starts with): one source of defaults for the command line, the TOML file and the
    emulator."""
    names = [f.name for f in dataclasses.fields(ChannelSettings) if f.name != "direction"]
    if s is None:
        values = {name: Settings.model_fields[name].default for name in names}
    else:
        values = {name: getattr(s, name) for name in names}
    return ChannelSettings(**values, direction=direction)


def validate_settings(s: ChannelSettings) -> None:
    """Raise ValueError (one line) for a setting the channel cannot take."""
    if s.snr_db is not None and not math.isfinite(s.snr_db):
        raise ValueError(f"snr_db must be finite, got {s.snr_db}")
    if s.fading is not None and s.fading not in FADINGS:
        raise ValueError(f"unknown fading {s.fading!r}; expected one of {list(FADINGS)}")
    if s.coherence is not None and s.coherence < 1:
        raise ValueError("coherence must be >= 1 symbol")
    for name in ("k_factor", "symbol_rate", "delay_ms"):
        v = getattr(s, name)
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {v}")
    for name in ("erasure_prob", "feedback_loss"):
        v = getattr(s, name)
        if v is not None and not 0 <= v <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {v}")


class ChannelEmulator:
    """One route's channel: its settings (given over the defaults, ``channel_settings``;
    ``configure`` changes them while streams run) and its statistics summed over every stream.
    Each stream through the route gets a ``StreamChannel`` of its own (``open_stream``)."""

    def __init__(self, settings: ChannelSettings, seed: int = 0, direction: str = "") -> None:
        full = channel_settings(direction=direction)
        self.settings = full
        self.stats = ChannelStats(settings=full)
        self.version = 0  # bumped by every configure: streams rebuild their fading from it
        self._seed = seed
        self._streams = 0
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self.configure(settings)

    def configure(self, update: ChannelSettings) -> ChannelStats:
        validate_settings(update)
        changes = {k: v for k, v in dataclasses.asdict(update).items() if v is not None and k != "direction"}
        self.settings = dataclasses.replace(self.settings, **changes)
        self.version += 1
        if changes:
            log.info("channel: %s", ", ".join(f"{k}={v}" for k, v in changes.items()))
        return self.snapshot()

    def open_stream(self) -> StreamChannel:
        """A channel of its own for the next stream through this route: its own fading
        realisation (seeded from the route's seed and the stream's number), air time and
        counters."""
        self._streams += 1
        return StreamChannel(self, self._seed + 7919 * self._streams)

    def on_air(self, n_symbols: int) -> None:
        """A stream put ``n_symbols`` on air (for ``symbols_per_s``)."""
        self._recent.append((time.monotonic(), n_symbols))

    def snapshot(self) -> ChannelStats:
        now = time.monotonic()
        while self._recent and self._recent[0][0] < now - 5.0:
            self._recent.popleft()
        span = max(1.0, now - self._recent[0][0]) if self._recent else 1.0
        self.stats.symbols_per_s = sum(n for _, n in self._recent) / span
        self.stats.settings = self.settings
        return dataclasses.replace(self.stats)


class StreamChannel:
    """One stream's channel through a route: y = h·x + w (paper eq 6–7) with a fading
    realisation, an air-time budget and counters of its own, so streams sharing a route (many
    sessions through one emulator) neither share fades nor wait for each other's symbols. The
    route's settings apply; a ``configure`` reaches the stream at its next burst."""

    def __init__(self, route: ChannelEmulator, seed: int) -> None:
        self.route = route
        self.stats = ChannelStats(settings=route.settings)
        self._seed = seed
        self._rng = np.random.default_rng(seed + 1)
        self._air_free = 0.0
        self._version = -1
        self._fading: BlockFadingChannel | None = None

    @property
    def settings(self) -> ChannelSettings:
        return self.route.settings

    def _channel(self) -> BlockFadingChannel:
        if self._fading is None or self._version != self.route.version:
            s, self._version = self.settings, self.route.version
            self._fading = BlockFadingChannel(
                str(s.fading),
                coherence=int(s.coherence or 1),
                k_factor=float(s.k_factor or 0),
                erasure_prob=float(s.erasure_prob or 0),
                seed=self._seed + self._version,
            )
        return self._fading

    def count(self, **counts: int) -> None:
        """Add to this stream's counters and its route's."""
        for stats in (self.stats, self.route.stats):
            for name, n in counts.items():
                setattr(stats, name, getattr(stats, name) + n)

    def apply(self, burst: Burst) -> Burst:
        """The channel acting on one burst: new symbols, noise variance, genie removed."""
        channel = self._channel()
        out = channel(burst.iq, float(self.settings.snr_db or 0.0))
        n = burst.iq.shape[0]
        self.count(bursts=1, symbols=n, erased_blocks=int(np.count_nonzero(out.erased[:: channel.coherence])))
        self.route.on_air(n)
        return dataclasses.replace(burst, iq=out.y, noise_var=out.no, genie=b"")

    def air_time(self, loop_now: float, n_symbols: int) -> float | None:
        """When a burst of n symbols has fully arrived (loop clock), or None to drop it."""
        rate = float(self.settings.symbol_rate or 0.0)
        start = max(loop_now, self._air_free)
        if start - loop_now > MAX_BACKLOG_S:
            return None
        self._air_free = start + (n_symbols / rate if rate > 0 else 0.0)
        return self._air_free + float(self.settings.delay_ms or 0.0) / 1000

    def feedback_delay(self) -> float | None:
        """Seconds until feedback arrives upstream, or None when it is lost."""
        if self._rng.random() < float(self.settings.feedback_loss or 0.0):
            self.count(feedback_dropped=1)
            return None
        self.count(feedback_forwarded=1)
        return float(self.settings.delay_ms or 0.0) / 1000

"""The emulator's routes: one per direction (a call has "a-b" and "b-a"), each with its own
target, channel and genie judge, picked by the stream header's ``direction`` and addressed in
``Control`` by the same name; "" is the default route (``--target``). No protobuf here."""

from __future__ import annotations

import dataclasses

from channel_emulator.channel import ChannelEmulator
from channel_emulator.genie import MAX_RETRIES, RETRANSMIT_BY, XI_THRESHOLD, GenieJudge
from m3e.wire.messages import ChannelSettings


@dataclasses.dataclass
class Route:
    """One direction through the emulator: where it goes and the channel on the way."""

    target: str
    emulator: ChannelEmulator
    judge: GenieJudge


class Routes(dict[str, Route]):
    """The emulator's routes by direction; ``add`` makes one with a channel of its own (or
    points an existing one at a new receiver: a party that rejoins keeps its channel)."""

    def __init__(
        self,
        settings: ChannelSettings | None = None,
        seed: int = 0,
        retransmit_by: str = RETRANSMIT_BY,
        xi_threshold: float = XI_THRESHOLD,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        super().__init__()
        self.settings, self.seed = settings or ChannelSettings(), seed
        self.judging = (retransmit_by, xi_threshold, max_retries)

    def add(self, direction: str, target: str) -> Route:
        if direction in self:
            self[direction].target = target
        else:
            emulator = ChannelEmulator(self.settings, self.seed + 1000 * len(self), direction)
            self[direction] = Route(target, emulator, GenieJudge(emulator.stats, *self.judging))
        return self[direction]

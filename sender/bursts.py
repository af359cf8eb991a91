"""Payloads into bursts: the channel coding of every encoder's output (``Coding``), the
sequence numbers and per-modality indexes, and HARQ's next redundancy version."""

from __future__ import annotations

import dataclasses
import threading

from m3e.codecs import SMALL_LAYER_CODING
from m3e.phy.estimation import PilotLayout
from m3e.phy.harq import redundancy_version
from m3e.phy.link import TransportCoder
from m3e.schemes.base import Coding, Outgoing, Resend
from m3e.wire.messages import Burst, Modality
from sender.config import SenderConfig


class BurstMaker:
    """Thread-safe: encoders emit from the producer and from their workers."""

    def __init__(self, config: SenderConfig) -> None:
        c = self.config = config
        self.pilots = PilotLayout(c.pilot_spacing, c.pilot_count)
        self.coders: dict[Coding, TransportCoder] = {
            "stream": TransportCoder(c.modulation, c.code_rate, pilots=self.pilots),
            # what is stale if late (low-latency pictures and motion): robust from the first
            # transmission; a retransmission that comes after its frame was played is dropped
            "robust": TransportCoder("qpsk", 0.5, pilots=self.pilots),
            "small": TransportCoder(*SMALL_LAYER_CODING, pilots=self.pilots),  # T′
        }
        self.coders["stream"].warm_up()
        self._seq = 0
        self._index = {Modality.VIDEO: 0, Modality.AUDIO: 0, Modality.TEXT: 0}
        self._lock = threading.Lock()

    def next_index(self, modality: Modality) -> int:
        with self._lock:
            self._index[modality] += 1
            return self._index[modality] - 1

    def burst(self, out: Outgoing) -> Burst:
        """The first transmission of ``out`` (redundancy version 0)."""
        c = self.config
        index = self.next_index(out.modality) if out.index is None else out.index
        with self._lock:
            seq, self._seq = self._seq, self._seq + 1
            if out.coding == "analog":
                assert out.symbols is not None
                modulation, rate, iq = "analog", 0.0, self.pilots.insert(out.symbols)
            else:
                coder = self.coders[out.coding]
                modulation, rate, iq = coder.modulation, coder.rate, coder.encode(out.data, 0)
        return Burst(
            session_id=c.session_id,
            seq=seq,
            pts=out.pts,
            modality=out.modality,
            scheme=out.scheme,
            modulation=modulation,
            code_rate=rate,
            payload_bytes=len(out.data) if out.size is None else out.size,
            iq=iq,
            pilot_spacing=c.pilot_spacing,
            pilot_count=c.pilot_count,
            capture_time=out.captured,
            keyframe=out.keyframe,
            genie=out.genie,
            index=index,
        )

    def again(
        self,
        burst: Burst,
        payload: bytes,
        coding: Coding,
        blocks: tuple[int, ...] = (),
        resend: Resend | None = None,
    ) -> Burst:
        """The next transmission after a NACK: HARQ IR's next redundancy version of the code
        ``blocks`` the receiver still misses (() = all); for analog symbols what the scheme's
        ``resend`` gives for the attempt (m3e-text: its coded sentence), else the same symbols."""
        attempt = burst.attempt + 1
        if coding == "analog":
            if resend is None:
                return dataclasses.replace(burst, attempt=attempt)
            symbols, size, rv = resend(attempt)
            iq = self.pilots.insert(symbols)
            return dataclasses.replace(burst, attempt=attempt, rv=rv, iq=iq, payload_bytes=size)
        rv = redundancy_version("ir", attempt)
        with self._lock:
            try:
                iq = self.coders[coding].encode(payload, rv, blocks)
            except ValueError:  # a NACK that named blocks the payload does not have
                blocks = ()
                iq = self.coders[coding].encode(payload, rv)
        return dataclasses.replace(burst, attempt=attempt, rv=rv, iq=iq, blocks=blocks)

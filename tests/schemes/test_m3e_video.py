"""The low-latency M3E decoder decodes pictures off the session's thread."""

import threading
import time

import numpy as np
import pytest

from m3e.schemes.base import DecoderOptions
from m3e.schemes.m3e_video import LowLatencyDecoder
from m3e.wire.messages import Burst, Modality, StreamHeader


def test_a_slow_picture_does_not_hold_the_frames_due_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding a V′ takes 50–150 ms; on the session's thread the play-out stood still."""
    decoder = LowLatencyDecoder(
        StreamHeader("s", 64, 48, 30.0, video_scheme="m3e", low_latency=True), DecoderOptions()
    )
    release = threading.Event()
    pictures = {1: np.full((48, 64, 3), 10, np.uint8), 2: np.full((48, 64, 3), 20, np.uint8)}

    def slow_decode(index: int, payload: bytes) -> np.ndarray:
        release.wait(5)
        return pictures[index]

    monkeypatch.setattr(decoder.player, "decode", slow_decode)
    t0 = time.time()

    def burst(index: int, pts: float) -> Burst:
        return Burst("s", index, pts, Modality.VIDEO, "m3e", "qpsk", 0.5, 0, np.zeros(1, np.complex64),
                     index=index, keyframe=True, capture_time=t0 + pts)  # fmt: skip

    start = time.monotonic()
    decoder.payload(burst(1, 0.0), b"picture 1", 0.0)
    decoder.payload(burst(2, 0.1), b"picture 2", 0.0)
    assert time.monotonic() - start < 0.05  # the caller went on at once
    assert decoder.ready(0.0) == []  # nothing decoded yet: nothing to play
    release.set()
    played = decoder.flush(0.2)
    shown = [int(f.rgb[0, 0, 0]) for f in played if not f.frozen]
    assert shown[0] == 10 and shown[-1] == 20  # in order: the second is coded against the first
    assert decoder.first_shown() == {0: 0, 3: 3}

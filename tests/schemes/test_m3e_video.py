"""The low-latency M3E decoder decodes pictures off the session's thread."""

import threading
import time

import numpy as np
import pytest

from m3e.codecs.prediction import Prediction
from m3e.schemes.base import DecoderOptions
from m3e.schemes.m3e_video import LowLatencyDecoder
from m3e.wire.messages import Burst, Modality, StreamHeader


def test_a_slow_picture_does_not_hold_the_frames_due_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding a V′ takes 50–150 ms; on the session's thread the play-out stood still."""
    decoder = LowLatencyDecoder(
        StreamHeader("s", 64, 48, 30.0, video_scheme="m3e", low_latency=True), DecoderOptions()
    )
    release = threading.Event()
    ramp = np.broadcast_to(np.arange(64, dtype=np.uint8)[None, :, None] * 3, (48, 64, 3))
    pictures = {1: np.full((48, 64, 3), 10, np.uint8), 2: np.ascontiguousarray(ramp)}

    def slow_decode(index: int, payload: bytes) -> np.ndarray:
        release.wait(5)
        decoder.player.receiver.remember(index, "", pictures[index])
        return pictures[index]

    monkeypatch.setattr(decoder.player, "decode", slow_decode)
    t0 = time.time()

    def burst(index: int, pts: float, keyframe: bool = True) -> Burst:
        return Burst("s", index, pts, Modality.VIDEO, "m3e", "qpsk", 0.5, 0, np.zeros(1, np.complex64),
                     index=index, keyframe=keyframe, capture_time=t0 + pts)  # fmt: skip

    start = time.monotonic()
    decoder.payload(burst(1, 0.0), b"picture 1", 0.0)
    decoder.payload(burst(2, 0.1), b"picture 2", 0.0)
    shift = np.array([[1, 0, 6], [0, 1, 0]], np.float32)  # the camera moved 6 pixels
    decoder.payload(burst(2, 0.2, keyframe=False), Prediction(2, shift).to_bytes(), 0.0)
    assert time.monotonic() - start < 0.05  # the caller went on at once
    assert decoder.ready(0.0) == []  # nothing decoded yet: nothing to play
    release.set()
    played = decoder.flush(0.3)
    assert int(played[0].rgb[0, 0, 0]) == 10  # in order: the second is coded against the first
    assert decoder.first_shown() == {0: 0, 3: 3}
    assert np.array_equal(played[3].rgb, pictures[2])
    assert not np.array_equal(played[-1].rgb, pictures[2])  # the motion that waited for it moved it


def test_motion_goes_on_while_a_picture_is_coded_and_a_cut_is_never_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Coding a picture takes 0.5–1 s on a busy machine; on the motion thread it held the
    motion (2 samples a second reached a call, not 10). Now a refresh goes only when no picture
    is being coded (else the motion does) and a cut always goes; a still camera's motion goes
    once a second."""
    from m3e.codecs.m3e_keyframe import PictureRefresh
    from m3e.codecs.prediction import MotionReference
    from m3e.media.sources import SourceConfig
    from m3e.restore.interpolation import IDENTITY
    from m3e.schemes.base import EncoderOptions, Outgoing
    from m3e.schemes.m3e_video import M3EVideoEncoder

    # every frame: the camera stood still, and what moved wants a new picture
    monkeypatch.setattr(MotionReference, "motion_and_error", lambda self, frame: (IDENTITY.copy(), 99.0))
    sent: list[Outgoing] = []
    options = EncoderOptions(media=SourceConfig(width=96, height=64), low_latency=True)
    encoder = M3EVideoEncoder("m3e", options, sent.append)
    encoder.open()
    encoder._refresh = PictureRefresh(kbps=1000.0)
    slow = threading.Event()
    assert encoder._keyframes is not None
    encode = encoder._keyframes.encode

    def held_encode(frame: np.ndarray, text: str | None, budget: int):  # type: ignore[no-untyped-def]
        slow.wait(5)
        return encode(frame, text, budget)

    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(128, 40, (64, 96, 3)), 0, 255).astype(np.uint8)
    encoder._picture_or_motion(frame, 0.0, True, 0.0)  # the first picture (a cut)
    encoder._painter.submit(lambda: None).result()
    monkeypatch.setattr(encoder._keyframes, "encode", held_encode)
    encoder._picture_or_motion(frame, 0.1, False, 0.0)  # a refresh: being coded
    encoder._picture_or_motion(frame, 0.2, False, 0.0)  # wants one too: motion goes
    encoder._picture_or_motion(frame, 0.3, True, 0.0)  # a cut: queued, not dropped
    encoder._picture_or_motion(frame, 0.4, False, 0.0)  # the same motion again: not sent
    encoder._picture_or_motion(frame, 1.2, False, 0.0)  # ... until a second later
    slow.set()
    encoder.close()
    kinds = [("picture" if o.keyframe else "motion", o.pts, o.index) for o in sent]
    assert kinds == [
        ("picture", 0.0, 0),
        ("motion", 0.2, 0),
        ("motion", 1.2, 0),
        ("picture", 0.1, 1),
        ("picture", 0.3, 2),
    ]

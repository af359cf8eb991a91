"""M3E video decoders: interpolation mode paced at the frame rate; low latency's motion samples and
pictures off the session's thread."""

import threading
import time

import numpy as np
import pytest

from m3e.codecs.prediction import Prediction
from m3e.schemes.base import DecoderOptions
from m3e.schemes.m3e_video import LowLatencyDecoder, M3EVideoDecoder
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


def test_a_still_cameras_motion_goes_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """A talking head's still camera sent 10 identical motion samples a second: each one a
    burst to code, carry and decode, for a picture that does not move."""
    from m3e.codecs.prediction import MotionReference
    from m3e.media.sources import SourceConfig
    from m3e.restore.interpolation import IDENTITY
    from m3e.schemes.base import EncoderOptions, Outgoing
    from m3e.schemes.m3e_video import M3EVideoEncoder

    def shift(dx: float) -> np.ndarray:
        warp = IDENTITY.copy()
        warp[0, 2] = dx
        return warp

    warps = iter([shift(0.0), shift(0.1), shift(0.1), shift(3.0)])
    monkeypatch.setattr(MotionReference, "motion_and_error", lambda self, frame: (next(warps), 0.0))
    sent: list[Outgoing] = []
    options = EncoderOptions(media=SourceConfig(width=96, height=64), low_latency=True)
    encoder = M3EVideoEncoder("m3e", options, sent.append)
    encoder.open()
    frame = np.full((64, 96, 3), 128, np.uint8)
    for t in (0.0, 0.1, 0.2, 1.2, 1.3):  # a picture, then motion samples
        encoder._picture_or_motion(frame, t, t == 0.0, 0.0)
    encoder.close()
    kinds = [("picture" if o.keyframe else "motion", o.pts) for o in sent]
    # 0.2: within 0.5 pixel of 0.1; 1.2: the same, a second later; 1.3: moved 3 pixels
    assert kinds == [("picture", 0.0), ("motion", 0.1), ("motion", 1.2), ("motion", 1.3)]


def test_interpolated_frames_play_at_the_frame_rate_not_a_keyframe_interval_at_once() -> None:
    """The frames between two keyframes exist once the later one is decoded; a page showing
    the newest frame saw one picture per keyframe interval."""
    from m3e.codecs.m3e_keyframe import KeyframeSender
    from m3e.codecs.prediction import Memory, embed
    from m3e.media.offline import picture, view

    size = (160, 120)
    exemplars = [Memory(-1, "a clock", embed(["a clock"])[0], view(picture("clock"), 0.0, "pan", size))]
    decoder = M3EVideoDecoder(StreamHeader("s", *size, 10.0, video_scheme="m3e"), DecoderOptions())
    decoder.player.receiver.kb.exemplars = exemplars
    sender = KeyframeSender("m3e", size, exemplars=exemplars)
    cups = [view(picture("coffee"), p, "pan", size) for p in (0.0, 0.3)]
    t0 = time.time() - 1.2  # keyframe 1 (pts 1 s) was captured 0.2 s ago
    for index, frame in enumerate(cups):
        burst = Burst("s", index, float(index), Modality.VIDEO, "m3e", "qpsk", 0.5, 0,
                      np.zeros(1, np.complex64), index=index, keyframe=True)  # fmt: skip
        decoder.payload(burst, sender.encode(frame, "a cup", 1500)[0].payload(), 0.0)
        decoder.sentence(index, "a cup", float(index), t0 + index)
        if index == 0:
            assert [f.index for f in decoder.ready(0.0)] == [0]  # 1.2 s after its capture
    first = decoder.ready(0.0)  # frames 1..10 are decoded, but not yet due
    time.sleep(0.35)
    later = decoder.ready(0.0)
    played = first + later
    assert len(first) <= 1 and 2 <= len(played) <= 5, [f.index for f in played]
    assert [f.index for f in played] == list(range(1, 1 + len(played)))
    assert all(f.latency_ms is not None and 1100 < f.latency_ms < 1700 for f in played)  # each its own
    assert decoder.waiting() == 10 - len(played)  # received: the sender counts them delivered
    rest = decoder.flush(1.5)
    assert [f.index for f in rest] == list(range(1 + len(played), 16))  # what waited, then held

"""The live feed (a browser party's media on the sender's stdin) read as a source."""

import io
import sys
import time

import numpy as np
import pytest

from m3e.media.feed import MAGIC, FeedError, audio_record, read_feed, video_record
from m3e.media.sources import AudioItem, MediaSource, SourceConfig, SourceError, VideoItem


def _feed(frames: int, fps: float, start: float, gap_after: int | None = None) -> bytes:
    out = io.BytesIO()
    out.write(MAGIC)
    t = start
    for i in range(frames):
        out.write(video_record(t, np.full((240 * 3 // 2, 320), i, np.uint8)))
        out.write(audio_record(t, 48000, np.zeros((int(48000 / fps), 2), np.int16)))
        t += 1 / fps + (2.0 if i == gap_after else 0.0)
    return out.getvalue()


def _read(data: bytes, monkeypatch: pytest.MonkeyPatch, **config: float) -> list:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    return list(MediaSource("-", SourceConfig(160, 120, 30.0, 16000, 1, **config)))


def test_a_feed_becomes_frames_at_the_configured_size_rate_and_capture_times(monkeypatch) -> None:
    start = time.time()
    items = _read(_feed(30, 15.0, start), monkeypatch)
    video = [i for i in items if isinstance(i, VideoItem)]
    audio = [i for i in items if isinstance(i, AudioItem)]
    assert [v.index for v in video] == list(range(len(video))) and 57 <= len(video) <= 59  # 15 -> 30 fps
    assert (video[-1].frame.width, video[-1].frame.height) == (160, 120)
    assert video[0].captured == pytest.approx(start) and video[-1].captured == pytest.approx(start + 29 / 15)
    assert sum(a.samples.shape[0] for a in audio) == pytest.approx(
        16000 * 2, rel=0.02
    )  # 48k stereo -> 16k mono


def test_a_gap_in_a_live_feed_is_skipped_not_filled_and_stale_frames_are_dropped(monkeypatch) -> None:
    now = time.time()
    stale = _feed(5, 30.0, now - 60)[len(MAGIC) :]  # waited in the pipe before the reader came
    fresh = _feed(10, 30.0, now, gap_after=4)[len(MAGIC) :]
    video = [i for i in _read(MAGIC + stale + fresh, monkeypatch) if isinstance(i, VideoItem)]
    assert video[0].captured == pytest.approx(now)
    assert len(video) <= 12  # 10 frames, the 2-s gap not filled with 60 repeats
    # the frame numbers jump over the gap: media time stays the capture clock
    assert all(v.pts == pytest.approx(v.captured - now, abs=1 / 30) for v in video)


def test_a_live_feed_ends_after_its_duration_in_wall_clock_time(monkeypatch) -> None:
    video = [
        i for i in _read(_feed(60, 30.0, time.time()), monkeypatch, duration=1.0) if isinstance(i, VideoItem)
    ]
    assert 29 <= len(video) <= 31


def test_bytes_that_are_not_a_feed_are_one_clear_error(monkeypatch) -> None:
    with pytest.raises(SourceError, match="not an M3E feed"):
        _read(b"GIF89a" + bytes(100), monkeypatch)
    with pytest.raises(FeedError, match="frame 7x8"):
        list(read_feed(io.BytesIO(MAGIC + video_record(0.0, np.zeros((12, 7), np.uint8)))))

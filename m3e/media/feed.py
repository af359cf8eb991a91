"""The feed: live frames and audio handed from one process to another as plain bytes.

A browser party's camera reaches the call process over WebRTC (``call/webrtc.py``); the call
process writes what arrives into its sender's stdin in this format and the sender reads it as
the source ``-`` (``MediaSource("-")``). No pickle: a fixed header per record, then raw planes.

Stream: ``MAGIC``, then records. A record is ``HEADER`` (kind, captured, a, b, length) and
``length`` bytes:

- ``b"V"``: a = width, b = height, the frame as yuv420p planes (``width * height * 3 // 2``);
- ``b"A"``: a = sample rate, b = channels, interleaved little-endian int16 samples.

``captured`` is the wall-clock time (``time.time()``) at which the frame reached the machine:
the receiver's latency counts from it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

MAGIC = b"M3EFEED1"
HEADER = struct.Struct("<cdIII")
MAX_RECORD = 64 * 1024 * 1024  # an 8K yuv420p frame is 50 MB


class FeedError(Exception):
    """The feed's bytes are not a feed (one line for the user)."""


@dataclass
class FeedVideo:
    captured: float
    yuv: npt.NDArray[np.uint8]  # (height * 3 // 2, width) yuv420p planes, as PyAV lays them out

    @property
    def size(self) -> tuple[int, int]:
        return self.yuv.shape[1], self.yuv.shape[0] * 2 // 3


@dataclass
class FeedAudio:
    captured: float
    sample_rate: int
    samples: npt.NDArray[np.int16]  # (n, channels)


def video_record(captured: float, yuv: npt.NDArray[np.uint8]) -> bytes:
    """One frame's record; ``yuv``: (height * 3 // 2, width) uint8."""
    h, w = yuv.shape[0] * 2 // 3, yuv.shape[1]
    data = np.ascontiguousarray(yuv, np.uint8).tobytes()
    return HEADER.pack(b"V", captured, w, h, len(data)) + data


def audio_record(captured: float, sample_rate: int, samples: npt.NDArray[np.int16]) -> bytes:
    """One audio block's record; ``samples``: (n, channels) int16."""
    data = np.ascontiguousarray(samples, "<i2").tobytes()
    return HEADER.pack(b"A", captured, sample_rate, samples.shape[1], len(data)) + data


def read_feed(stream: BinaryIO) -> Iterator[FeedVideo | FeedAudio]:
    """The records of a feed until it ends (FeedError when the bytes are not a feed)."""
    if _read(stream, len(MAGIC)) != MAGIC:
        raise FeedError("the input is not an M3E feed (it starts with neither frames nor audio)")
    while (head := _read(stream, HEADER.size)) is not None:
        kind, captured, a, b, length = HEADER.unpack(head)
        if length > MAX_RECORD:
            raise FeedError(f"feed record of {length} bytes (at most {MAX_RECORD})")
        body = _read(stream, length)
        if body is None:
            return  # the writer went away mid-record: the feed ends there
        if kind == b"V":
            if a % 2 or b % 2 or not (16 <= a <= 7680 and 16 <= b <= 4320) or length != a * b * 3 // 2:
                raise FeedError(f"feed frame {a}x{b} with {length} bytes")
            yield FeedVideo(captured, np.frombuffer(body, np.uint8).reshape(b * 3 // 2, a))
        elif kind == b"A":
            if not (1 <= b <= 2 and 8000 <= a <= 192000) or length % (2 * b):
                raise FeedError(f"feed audio at {a} Hz, {b} channels, {length} bytes")
            yield FeedAudio(captured, a, np.frombuffer(body, "<i2").reshape(-1, b).astype(np.int16))
        else:
            raise FeedError(f"feed record of unknown kind {kind!r}")


def _read(stream: BinaryIO, n: int) -> bytes | None:
    """Exactly ``n`` bytes, or None at the end of the stream."""
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)

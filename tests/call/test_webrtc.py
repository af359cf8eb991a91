"""A browser party's media: a real WebRTC peer (aiortc standing in for the browser) offers to
the call page, and its frames come out of the party's feed as the sender reads them."""

import asyncio
import os
import threading
from pathlib import Path

import av
import numpy as np
from aiohttp.test_utils import TestClient, TestServer
from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from call.orchestrator import Call, CallSettings
from call.page import CallPage
from call.webrtc import MAX_PENDING_FRAMES, FeedPipe
from m3e.eval.stamps import draw_stamp, read_stamp
from m3e.media.feed import MAGIC, FeedAudio, FeedVideo, read_feed


class StampedCamera(VideoStreamTrack):
    """640x480 frames at 30 fps, each carrying its number."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        rgb = np.full((480, 640, 3), 90, np.uint8)
        draw_stamp(rgb, self.n)
        self.n += 1
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


async def test_a_browser_peer_reaches_the_sender_feed_with_its_frames_and_sound(tmp_path: Path) -> None:
    call = Call(CallSettings(sources={"a": "browser", "b": "webcam"}, out=tmp_path))
    page = CallPage(call, "127.0.0.1", 0, lambda: None)
    read_end, write_end = os.pipe()
    call.parties["a"].feed.attach(os.fdopen(write_end, "wb"))  # where the sender's stdin would be
    records: list[FeedVideo | FeedAudio] = []
    reader = threading.Thread(target=lambda: records.extend(_until_video(os.fdopen(read_end, "rb"), 20)))
    reader.start()
    browser = RTCPeerConnection()
    browser.addTrack(StampedCamera())
    browser.addTrack(AudioStreamTrack())
    try:
        async with TestClient(TestServer(page._app())) as client:
            await browser.setLocalDescription(await browser.createOffer())
            offer = {"party": "a", "sdp": browser.localDescription.sdp, "type": "offer"}
            key = {"X-M3E-Token": page.keys["a"]}
            assert (await client.post("/api/offer", json=offer)).status == 403  # no invite, no camera
            assert (await client.post("/api/offer", json={**offer, "party": "b"}, headers=key)).status == 400
            reply = await client.post("/api/offer", json=offer, headers=key)
            assert reply.status == 200, await reply.text()
            await browser.setRemoteDescription(RTCSessionDescription(**await reply.json()))
            for _ in range(300):
                if not reader.is_alive():
                    break
                await asyncio.sleep(0.1)
    finally:
        await browser.close()
        await page.stop()
        call.parties["a"].feed.close()
    video = [r for r in records if isinstance(r, FeedVideo)]
    assert len(video) >= 20, f"{len(video)} frames arrived"
    assert video[0].size == (640, 480)
    stamps = [read_stamp(v.yuv[:480]) for v in video]
    assert all(s is not None for s in stamps) and stamps == sorted(stamps)  # in order, each its own
    assert any(isinstance(r, FeedAudio) and r.sample_rate == 48000 for r in records)


def _until_video(stream, frames: int) -> list[FeedVideo | FeedAudio]:  # type: ignore[no-untyped-def]
    out: list[FeedVideo | FeedAudio] = []
    for record in read_feed(stream):
        out.append(record)
        if sum(isinstance(r, FeedVideo) for r in out) >= frames:
            break
    return out


def test_a_feed_keeps_only_the_newest_frames_for_a_slow_sender() -> None:
    pipe = FeedPipe()
    for i in range(10):
        pipe.put_video(float(i), np.full((24, 16), i, np.uint8))
    assert pipe.frames_dropped == 10 - MAX_PENDING_FRAMES  # nobody attached: the newest wait
    read_end, write_end = os.pipe()
    pipe.attach(os.fdopen(write_end, "wb"))
    with os.fdopen(read_end, "rb") as r:
        got = [rec for _, rec in zip(range(MAX_PENDING_FRAMES), read_feed(r), strict=False)]
    pipe.close()
    assert [g.captured for g in got] == [8.0, 9.0]


def test_a_sender_that_ends_does_not_stop_the_feed_for_the_next_one() -> None:
    pipe = FeedPipe()
    read_end, write_end = os.pipe()
    os.close(read_end)  # that sender is gone
    pipe.attach(os.fdopen(write_end, "wb"))
    pipe.put_video(1.0, np.zeros((24, 16), np.uint8))
    read_end, write_end = os.pipe()
    pipe.attach(os.fdopen(write_end, "wb"))  # the next one (a scheme switch) starts with the magic
    pipe.put_video(2.0, np.zeros((24, 16), np.uint8))
    with os.fdopen(read_end, "rb") as r:
        assert r.read(len(MAGIC)) == MAGIC
    pipe.close()

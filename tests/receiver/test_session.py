from pathlib import Path

import av
import numpy as np

from m3e.codecs.traditional import VideoEncoder
from m3e.media.sources import MediaSource, SourceConfig, VideoItem
from m3e.phy.channels import BlockFadingChannel
from m3e.phy.estimation import PilotLayout
from m3e.phy.link import TransportCoder
from m3e.wire.messages import Burst, FeedbackKind, Modality, StreamHeader
from receiver.session import ReceiverConfig, ReceiverSession

W, H = 160, 120
PILOTS = PilotLayout(64, 4)


def _packets(n: int) -> list[bytes]:
    enc = VideoEncoder("h265", W, H, 30, gop=10)
    src = MediaSource("testsrc", SourceConfig(width=W, height=H, duration=n / 30))
    return [enc.encode(it.frame)[0].data for it in src if isinstance(it, VideoItem)]


def _burst(seq: int, payload: bytes, snr: float, rv: int = 0, attempt: int = 0) -> Burst:
    coder = TransportCoder("qpsk", 0.5, pilots=PILOTS)
    out = BlockFadingChannel("rayleigh", coherence=64, seed=seq * 10 + attempt)(
        coder.encode(payload, rv), snr
    )
    return Burst(
        "s",
        seq,
        seq / 30,
        Modality.VIDEO,
        "h265",
        "qpsk",
        0.5,
        len(payload),
        out.y,
        rv=rv,
        attempt=attempt,
        pilot_spacing=PILOTS.spacing,
        pilot_count=PILOTS.n_pilots,
        noise_var=out.no,
        index=seq,
    )


def _session(tmp_path: Path, **kw) -> ReceiverSession:  # type: ignore[no-untyped-def]
    header = StreamHeader("s", W, H, 30.0, video_scheme="h265")
    return ReceiverSession(header, ReceiverConfig(out=str(tmp_path / "out.mp4"), sound_card=False, **kw))


def test_clean_stream_is_decoded_and_recorded(tmp_path: Path) -> None:
    session = _session(tmp_path)
    packets = _packets(15)
    kinds = [session.on_burst(_burst(i, p, 25.0)).kind for i, p in enumerate(packets)]
    session.close()
    assert kinds == [FeedbackKind.ACK] * 15
    assert session.stats.payloads_ok == 15 and session.stats.frames == 15
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 15


def test_failed_burst_is_nacked_then_recovered_by_retransmission(tmp_path: Path) -> None:
    session = _session(tmp_path)
    (payload,) = _packets(1)
    first = session.on_burst(_burst(0, payload, -6.0))
    assert first.kind == FeedbackKind.NACK and session.stats.frames == 0
    # later redundancy versions at a better SNR combine with what was kept
    second = session.on_burst(_burst(0, payload, 12.0, rv=2, attempt=1))
    assert second.kind == FeedbackKind.ACK and session.stats.frames == 1


def test_retry_limit_gives_up_and_playback_freezes(tmp_path: Path) -> None:
    session = _session(tmp_path, max_retries=1)
    p0, p1 = _packets(2)
    assert session.on_burst(_burst(0, p0, -10.0)).kind == FeedbackKind.NACK
    assert session.on_burst(_burst(0, p0, -10.0, rv=2, attempt=1)).kind == FeedbackKind.GIVE_UP
    assert session.on_burst(_burst(1, p1, 25.0)).kind == FeedbackKind.ACK
    assert session.stats.payloads_lost == 1 and session.stats.frames == 2  # frame 0 frozen (black)


def test_malformed_bursts_are_rejected_and_counted(tmp_path: Path) -> None:
    session = _session(tmp_path)
    (payload,) = _packets(1)
    good = _burst(0, payload, 25.0)
    short = Burst(**{**vars(good), "iq": good.iq[:-5]})
    wrong_scheme = Burst(**{**vars(good), "scheme": "jpeg"})
    bad_modulation = Burst(**{**vars(good), "modulation": "8psk"})
    for b in (short, wrong_scheme, bad_modulation):
        fb = session.on_burst(b)
        assert fb.kind == FeedbackKind.REJECTED and fb.status_code == 3 and fb.reason
    assert session.stats.rejected == 3
    assert session.on_burst(good).kind == FeedbackKind.ACK  # and the stream goes on


def test_symbols_are_unit_energy_with_pilots() -> None:
    x = TransportCoder("16qam", 0.75, pilots=PILOTS).encode(b"x" * 500)
    assert abs(np.mean(np.abs(x) ** 2) - 1) < 0.05

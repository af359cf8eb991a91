import dataclasses
import time
from pathlib import Path

import av
import grpc
import numpy as np
import pytest

from m3e.codecs.traditional import VideoEncoder
from m3e.media.sources import MediaSource, SourceConfig, VideoItem
from m3e.phy.channels import BlockFadingChannel
from m3e.phy.estimation import PilotLayout
from m3e.phy.link import TransportCoder
from m3e.wire.messages import Burst, FeedbackKind, Modality, StreamHeader
from receiver.config import ReceiverConfig
from receiver.session import ReceiverSession

W, H = 160, 120
PILOTS = PilotLayout(64, 4)


def _packets(n: int) -> list[bytes]:
    enc = VideoEncoder("h265", W, H, 30, gop=10)
    src = MediaSource("testsrc", SourceConfig(width=W, height=H, duration=n / 30))
    return [enc.encode(it.frame)[0].data for it in src if isinstance(it, VideoItem)]


def _burst(
    seq: int, payload: bytes, snr: float, rv: int = 0, attempt: int = 0, blocks: tuple[int, ...] = ()
) -> Burst:
    coder = TransportCoder("qpsk", 0.5, pilots=PILOTS)
    out = BlockFadingChannel("rayleigh", coherence=64, seed=seq * 10 + attempt)(
        coder.encode(payload, rv, blocks), snr
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
        blocks=blocks,
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


def test_a_nack_names_the_failed_code_blocks_and_a_resend_of_those_alone_completes(
    tmp_path: Path,
) -> None:
    session = _session(tmp_path)
    (payload,) = _packets(1)  # an intra frame of a few code blocks
    first = _burst(0, payload, 25.0)
    n, blocks = len(first.iq), TransportCoder("qpsk", 0.5).plan(len(payload)).n_blocks
    assert blocks >= 3
    first.iq[int(1.1 * n / blocks) : int(1.9 * n / blocks)] = 0  # block 1 lost in a deep fade
    nack = session.on_burst(first)
    assert nack.kind == FeedbackKind.NACK and nack.missing_blocks == (1,)
    resend = _burst(0, payload, 25.0, rv=2, attempt=1, blocks=nack.missing_blocks)
    assert len(resend.iq) < len(first.iq) / 2
    assert session.on_burst(resend).kind == FeedbackKind.ACK
    beyond = dataclasses.replace(_burst(1, payload, 25.0, blocks=(0,)), blocks=(blocks,))
    assert session.on_burst(beyond).kind == FeedbackKind.REJECTED


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


def _sentence_burst(seq: int, sentence: str, snr: float, attempt: int = 0, fading: str = "awgn") -> Burst:
    """A sentence's first transmission, or (attempt ≥ 1) its coded sentence's retransmission."""
    from m3e.codecs.semantic_text import TextLink, sentence_rv

    link = TextLink()
    (sb,) = link.encode_bursts([sentence])
    symbols, size, rv = (sb.symbols, sb.difference_bytes, 0)
    if attempt:
        symbols, size, rv = (link.again(sb, attempt), len(sb.sentence), sentence_rv(attempt))
    out = BlockFadingChannel(fading, coherence=64, seed=seq * 10 + attempt)(PILOTS.insert(symbols), snr)
    return Burst(
        "s", seq, 1.5, Modality.TEXT, "m3e-text", "analog", 0.0, size, out.y, rv=rv, attempt=attempt,
        pilot_spacing=PILOTS.spacing, pilot_count=PILOTS.n_pilots, noise_var=out.no, index=seq,
    )  # fmt: skip


def _text_session(tmp_path: Path, **kw) -> ReceiverSession:  # type: ignore[no-untyped-def]
    header = StreamHeader("s", W, H, 30.0, video_scheme="h265", text_scheme="m3e-text")
    return ReceiverSession(header, ReceiverConfig(out=None, sound_card=False, **kw))


def test_m3e_text_sentence_is_decoded_with_its_estimate(tmp_path: Path) -> None:
    session = _text_session(tmp_path)
    fb = session.on_burst(_sentence_burst(0, "a cat is meowing and a cup", 20.0))
    assert fb.kind == FeedbackKind.ACK and fb.decoded_text == "a cat is meowing and a cup"
    assert fb.xi is not None and fb.xi > 0.9
    arrived = session.texts[0].pop("arrived")
    assert abs(float(arrived) - time.time()) < 60  # type: ignore[arg-type]  # wall clock, like captured
    assert session.texts == [
        {
            "seq": 0,
            "index": 0,
            "time_s": 1.5,
            "captured": 0.0,
            "text": fb.decoded_text,
            "xi_hat": round(fb.xi, 3),
            "exact": True,
            "transmissions": 1,
        }
    ]


def test_m3e_text_asks_again_when_damaged_and_the_coded_sentence_arrives(tmp_path: Path) -> None:
    session = _text_session(tmp_path, max_retries=2)
    sentence = "a dog is barking and a car is driving"
    first = session.on_burst(_sentence_burst(0, sentence, -12.0))
    assert first.kind == FeedbackKind.NACK and first.xi is not None and first.xi < 0.6
    second = session.on_burst(_sentence_burst(0, sentence, 10.0, attempt=1))
    assert second.kind == FeedbackKind.ACK and second.decoded_text == sentence
    assert session.texts[0]["transmissions"] == 2 and len(session.texts) == 1
    assert session.stats.nacks == 1 and session.stats.payloads_ok == 1
    lost = [session.on_burst(_sentence_burst(1, sentence, -15.0, attempt=a)).kind for a in range(3)]
    assert lost == [FeedbackKind.NACK, FeedbackKind.NACK, FeedbackKind.GIVE_UP]  # bounded retries


def test_m3e_text_asks_again_until_exact_then_takes_a_good_meaning(tmp_path: Path) -> None:
    """A name may be wrong while ξ̂ is high: without the check, one more copy is asked for."""
    from m3e.codecs.semantic_text import SentenceEstimate

    burst = _sentence_burst(0, "Maria booked two tickets to Lisbon.", 20.0)
    close = SentenceEstimate("maria booked two tickets to lisbon.", 0.9, -0.1, 0.95, 2.0, 1, exact=False)
    session = _text_session(tmp_path, max_retries=2)
    kinds = [session.on_sentence(dataclasses.replace(burst, attempt=a), close).kind for a in range(3)]
    assert kinds == [FeedbackKind.NACK, FeedbackKind.NACK, FeedbackKind.ACK]  # the last: good enough
    assert _text_session(tmp_path, until_exact=False).on_sentence(burst, close).kind == FeedbackKind.ACK


def test_malformed_m3e_text_bursts_are_rejected(tmp_path: Path) -> None:
    session = _text_session(tmp_path)
    good = _sentence_burst(0, "a cat", 20.0)
    again = _sentence_burst(0, "a cat", 20.0, attempt=1)
    for bad in (
        dataclasses.replace(again, payload_bytes=2**32 - 1),  # a retransmission claiming 4 GB
        dataclasses.replace(again, iq=again.iq[:-5]),  # not its redundancy version's length
        dataclasses.replace(good, iq=good.iq[:-3]),  # not a whole sentence
        dataclasses.replace(good, payload_bytes=2),  # too small for a text difference
        dataclasses.replace(good, payload_bytes=2**32 - 1),  # too large for one
        dataclasses.replace(good, pilot_count=0),  # no pilots
        dataclasses.replace(good, noise_var=0.0),
        dataclasses.replace(good, scheme="json"),
    ):
        fb = session.on_burst(bad)
        assert (
            fb.kind == FeedbackKind.REJECTED and fb.status_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        )
    assert session.on_burst(good).kind == FeedbackKind.ACK  # the stream goes on
    with pytest.raises(ValueError, match="text scheme"):
        ReceiverSession(StreamHeader("s", W, H, 30.0, text_scheme="morse"), ReceiverConfig(out=None))


def test_a_copy_of_a_settled_payload_gets_the_same_answer_undecoded(tmp_path: Path) -> None:
    """The sender's feedback timer resends a payload whose ACK was lost: the receiver answers
    it again without decoding it again, counting it once."""
    session = _session(tmp_path, max_retries=1)
    p0, p1 = _packets(2)
    assert session.on_burst(_burst(0, p0, 25.0)).kind == FeedbackKind.ACK
    assert session.on_burst(_burst(0, p0, 25.0, rv=2, attempt=1)).kind == FeedbackKind.ACK
    assert session.stats.payloads_ok == 1
    assert session.on_burst(_burst(1, p1, -10.0)).kind == FeedbackKind.NACK
    assert session.on_burst(_burst(1, p1, -10.0, rv=2, attempt=1)).kind == FeedbackKind.GIVE_UP
    assert session.on_burst(_burst(1, p1, 25.0, rv=3, attempt=2)).kind == FeedbackKind.GIVE_UP
    assert session.stats.payloads_lost == 1 and session.stats.payloads_ok == 1


def test_held_soft_bits_are_bounded_by_symbols(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of bursts that never decode held 256 payloads' soft bits (a 1 GB flood: the
    receiver grew by 1.4 GB); the oldest go once their symbols pass the bound."""
    from receiver import session as session_module

    session = _session(tmp_path)
    (payload,) = _packets(1)
    n = _burst(0, payload, -10.0).iq.shape[0]
    monkeypatch.setattr(session_module, "MAX_PENDING_SYMBOLS", 3 * n)
    for seq in range(10):
        assert session.on_burst(_burst(seq, payload, -10.0)).kind == FeedbackKind.NACK
    assert len(session._pending) == 3 and session._pending_symbols == 3 * n
    assert sorted(session._pending) == [7, 8, 9]


def test_the_summary_says_what_was_delivered(tmp_path: Path) -> None:
    session = _session(tmp_path, max_retries=0)
    packets = _packets(4)
    for i, p in enumerate(packets):
        session.on_burst(_burst(i, p, 25.0 if i < 3 else -10.0))  # the last one is lost
    summary = session.close()
    assert summary["frames_frozen"] == 1 and summary["delivered_fraction"] == 0.75


def test_nothing_is_recorded_before_media(tmp_path: Path) -> None:
    session = _session(tmp_path)
    assert not session.has_media and not (tmp_path / "out.mp4").exists()
    session.close()
    assert not (tmp_path / "out.mp4").exists()


def test_a_frame_decoded_after_its_play_out_time_is_given_up(tmp_path: Path) -> None:
    """It froze, and so do the frames that refer to it: GIVE_UP (not ACK) makes the sender send
    a keyframe (a late frame froze the picture until the next one, up to a GOP)."""
    import time

    session = _session(tmp_path, playout_delay_s=0.05)
    p0, p1, p2 = _packets(3)
    assert session.on_burst(_burst(1, p1, 25.0)).kind == FeedbackKind.ACK
    time.sleep(0.1)
    assert session.on_burst(_burst(2, p2, 25.0)).kind == FeedbackKind.ACK  # frame 0 skipped
    assert session.on_burst(_burst(0, p0, 25.0)).kind == FeedbackKind.GIVE_UP

import numpy as np
import pytest

from m3e.wire import link_pb2 as pb
from m3e.wire.convert import (
    MAX_SYMBOLS,
    burst_from_proto,
    burst_to_proto,
    channel_stats_from_proto,
    channel_stats_to_proto,
    feedback_from_proto,
    feedback_to_proto,
    header_from_proto,
    header_to_proto,
    settings_from_proto,
    settings_to_proto,
    symbols_from_bytes,
    symbols_to_bytes,
    uplink,
)
from m3e.wire.messages import (
    Burst,
    ChannelSettings,
    ChannelStats,
    Feedback,
    FeedbackKind,
    Modality,
    ReceiverStats,
    StreamHeader,
)


def _wire(msg):  # type: ignore[no-untyped-def]
    return type(msg).FromString(msg.SerializeToString())


def _burst(**kw) -> Burst:  # type: ignore[no-untyped-def]
    iq = (np.arange(6) + 1j * np.arange(6)).astype(np.complex64)
    fields = dict(
        session_id="s1",
        seq=7,
        pts=0.25,
        modality=Modality.AUDIO,
        scheme="aac",
        modulation="qpsk",
        code_rate=0.5,
        payload_bytes=12,
        iq=iq,
        rv=2,
        attempt=1,
        pilot_spacing=64,
        pilot_count=4,
        capture_time=1.5,
        keyframe=True,
        noise_var=0.125,
        genie=b"ref",
        index=3,
    )
    fields.update(kw)
    return Burst(**fields)


def test_burst_roundtrip() -> None:
    b = _burst(blocks=(1, 3))
    back = burst_from_proto(_wire(burst_to_proto(b)))
    np.testing.assert_allclose(back.iq, b.iq, atol=5 / 32767)  # half a step in I and in Q
    assert {**vars(back), "iq": None} == {**vars(b), "iq": None}


def test_uplink_carries_a_header_a_burst_or_the_end() -> None:
    h = StreamHeader("s", 720, 480, 30.0, video_scheme="jpeg")
    assert header_from_proto(uplink(h).header) == h
    assert uplink(_burst()).burst.seq == _burst().seq
    end = uplink(("s", 12.5))
    assert end.WhichOneof("kind") == "end" and (end.end.session_id, end.end.end_pts) == ("s", 12.5)


def test_other_messages_roundtrip() -> None:
    h = StreamHeader("s", 720, 480, 30.0, 48000, 1, "h265", "aac", b"\x11\x90")
    assert header_from_proto(_wire(header_to_proto(h))) == h
    f = Feedback("s", 3, FeedbackKind.NACK, xi=0.5, reason="crc", stats=ReceiverStats(bursts=4, fps=29.5))
    assert feedback_from_proto(_wire(feedback_to_proto(f))) == f
    f2 = Feedback("s", 4, FeedbackKind.ACK)
    assert feedback_from_proto(_wire(feedback_to_proto(f2))) == f2
    s = ChannelSettings(snr_db=0.0, fading="awgn", erasure_prob=0.1)
    assert settings_from_proto(_wire(settings_to_proto(s))) == s  # 0.0 survives (optional fields)
    st = ChannelStats(settings=s, bursts=5, symbols=100, symbols_per_s=12.5, streams=1)
    assert channel_stats_from_proto(_wire(channel_stats_to_proto(st))) == st


def test_symbols_are_little_endian_int16_pairs_scaled_to_the_largest() -> None:
    iq = np.array([1 + 2j, -3.5 + 0.25j], dtype=np.complex64)
    raw, step = symbols_to_bytes(iq)
    assert step == pytest.approx(3.5 / 32767)
    assert np.array_equal(np.frombuffer(raw, "<i2"), np.rint(np.array([1, 2, -3.5, 0.25]) / step))
    np.testing.assert_allclose(symbols_from_bytes(raw, step), iq, atol=step)


def test_quantisation_is_far_below_any_channel_noise() -> None:
    rng = np.random.default_rng(0)  # Rayleigh-faded QPSK: a peak far above the mean power
    h = (rng.standard_normal(100_000) + 1j * rng.standard_normal(100_000)) / np.sqrt(2)
    iq = (h * (rng.choice([-1, 1], 100_000) + 1j * rng.choice([-1, 1], 100_000)) / np.sqrt(2)).astype(
        np.complex64
    )
    back = symbols_from_bytes(*symbols_to_bytes(iq))
    snr_db = 10 * np.log10(np.mean(np.abs(iq) ** 2) / np.mean(np.abs(back - iq) ** 2))
    assert snr_db > 75


def test_silence_and_non_finite_symbols() -> None:
    raw, step = symbols_to_bytes(np.zeros(4, np.complex64))  # an erased burst
    assert step > 0 and np.array_equal(symbols_from_bytes(raw, step), np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        symbols_to_bytes(np.array([np.nan], np.complex64))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: setattr(m, "iq", b"\0" * 14), "whole number"),
        (lambda m: setattr(m, "iq_scale", float("nan")), "iq_scale"),
        (lambda m: setattr(m, "iq_scale", 0.0), "iq_scale"),
        (lambda m: setattr(m, "iq_scale", 3e38), "iq_scale"),  # finite, but 32767 steps are not
        (lambda m: setattr(m, "iq", b"\0" * 4 * (MAX_SYMBOLS + 1)), "exceeds"),
        (lambda m: setattr(m, "modality", 9), "modality"),
        (lambda m: setattr(m, "payload_bytes", 10**9), "payload"),
        (lambda m: setattr(m, "pts", float("inf")), "finite"),
    ],
)
def test_malformed_bursts_are_rejected(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    m = burst_to_proto(_burst())
    mutate(m)
    with pytest.raises(ValueError, match=message):
        burst_from_proto(m)


def test_bad_headers_are_rejected() -> None:
    with pytest.raises(ValueError, match="resolution"):
        header_from_proto(pb.StreamHeader(session_id="s", width=8, height=8, fps=30))
    with pytest.raises(ValueError, match="frame rate"):
        header_from_proto(pb.StreamHeader(session_id="s", width=64, height=64, fps=0))


def _good_header(**fields: object) -> pb.StreamHeader:
    base: dict[str, object] = dict(
        session_id="s", width=320, height=240, fps=30, video_scheme="h265",
        audio_scheme="aac", sample_rate=48000, audio_channels=1, audio_config=b"\x11\x90",
    )  # fmt: skip
    return pb.StreamHeader(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sample_rate": 2**32 - 1}, "sample_rate"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"audio_channels": 2**32 - 1}, "audio_channels"),
        ({"audio_channels": 0}, "audio_channels"),
        ({"audio_scheme": "", "audio_config": b""}, "need an audio_scheme"),  # rate without a scheme
        ({"audio_config": b"x" * 100_000}, "audio_config"),
        ({"width": 2**32 - 1}, "resolution"),
        ({"width": 321}, "resolution"),
        ({"fps": float("nan")}, "frame rate"),
        ({"fps": float("inf")}, "frame rate"),
        ({"video_scheme": "vp9"}, "unknown video scheme"),
        ({"video_scheme": ""}, "unknown video scheme"),
        ({"audio_scheme": "wma"}, "unknown audio scheme"),
        ({"text_scheme": "morse"}, "unknown text scheme"),
        ({"video_scheme": "m3e"}, "needs the m3e-text text scheme"),
        ({"session_id": ""}, "session_id"),
        ({"session_id": "x" * 10_000}, "session_id"),
        ({"direction": "d" * 16_384}, "direction"),
        ({"direction": "a\nb"}, "direction"),
    ],
)
def test_every_header_field_is_checked(fields: dict[str, object], message: str) -> None:
    assert header_from_proto(_good_header()).sample_rate == 48000
    with pytest.raises(ValueError, match=message) as err:
        header_from_proto(_good_header(**fields))
    assert len(str(err.value)) < 200  # never the whole hostile value

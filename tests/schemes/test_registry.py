"""The scheme registry: every name resolves to real classes, headers are checked, and the
traditional and json schemes round-trip through their encoder and decoder."""

import importlib
import threading

import numpy as np
import pytest

from m3e import schemes
from m3e.media.sources import AudioItem, MediaSource, SourceConfig, VideoItem
from m3e.schemes.base import DecoderOptions, EncoderOptions, Outgoing, SchemeEncoder
from m3e.wire.messages import Burst, Modality, StreamHeader

W, H = 96, 64


def test_every_registered_scheme_names_importable_callables() -> None:
    for scheme in schemes.SCHEMES.values():
        for path in (scheme.encoder, scheme.decoder):
            module, name = path.split(":")
            assert callable(getattr(importlib.import_module(f"m3e.schemes.{module}"), name)), path
        for needed in (scheme.text, scheme.audio):
            assert not needed or any(s.name == needed for s in schemes.SCHEMES.values()), needed


def test_user_facing_names() -> None:
    assert schemes.names(Modality.VIDEO) == (
        "h265",
        "jpeg",
        "h265-equal-rate",
        "m3e",
        "m3e-no-diff",
        "m3e-text-only",
    )
    assert "m3e-audio" not in schemes.names(Modality.AUDIO)  # implied by M3E, not chosen
    assert "m3e-audio" in schemes.names(Modality.AUDIO, selectable_only=False)
    assert schemes.low_latency_names() == ("m3e",)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"video_scheme": "vp9"}, "unknown video scheme 'vp9'"),
        ({"audio_scheme": "wma"}, "unknown audio scheme 'wma'"),
        ({"text_scheme": "morse"}, "unknown text scheme 'morse'"),
        ({"video_scheme": "m3e", "text_scheme": "json"}, "video scheme 'm3e' needs the m3e-text"),
        ({"audio_scheme": "m3e-audio"}, "audio scheme 'm3e-audio' needs the m3e-text"),
    ],
)
def test_check_header_rejects(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        schemes.check_header(StreamHeader("s", W, H, 30.0, **fields))  # type: ignore[arg-type]


def test_check_header_accepts_m3e_with_its_text_and_audio() -> None:
    schemes.check_header(StreamHeader("s", W, H, 30.0, 16000, 1, "m3e", "m3e-audio", b"", "m3e-text"))


def _burst(out: Outgoing, index: int) -> Burst:
    iq = np.zeros(1, np.complex64)
    return Burst("s", index, out.pts, out.modality, out.scheme, "qpsk", 0.5, len(out.data), iq, index=index)


def _encode(encoder: SchemeEncoder, source: MediaSource) -> None:
    encoder.open()
    for item in source:
        if isinstance(item, AudioItem):
            encoder.audio(item, 0.0)
        else:
            assert isinstance(item, VideoItem)
            encoder.video(item, None, 0.0)
    encoder.close()


@pytest.mark.parametrize("name", ["h265", "jpeg"])
def test_traditional_video_round_trip_and_a_lost_frame_freezes(name: str) -> None:
    sent: list[Outgoing] = []
    media = SourceConfig(width=W, height=H, duration=0.5)
    encoder = schemes.encoder(Modality.VIDEO, name, EncoderOptions(media, gop=5), sent.append)
    _encode(encoder, MediaSource("testsrc", media))
    assert len(sent) == 15 and all(o.modality == Modality.VIDEO and o.data for o in sent)
    header = StreamHeader("s", W, H, 30.0, video_scheme=name)
    decoder = schemes.video_decoder(header, DecoderOptions(playout_delay_s=0.0))
    for i, out in enumerate(sent):
        if i == 7:
            decoder.lost(_burst(out, i))
        else:
            decoder.payload(_burst(out, i), out.data, 0.0)
    frames = decoder.ready(1.0) + decoder.flush(15 / 30)
    assert [f.index for f in frames] == list(range(15))
    frozen = [f.frozen for f in frames]
    # the lost frame freezes; H.265's P-frames after it may too, until the next intra frame (10)
    assert frozen[7] and not any(frozen[:7]) and not any(frozen[10:])
    assert frames[0].rgb.shape == (H, W, 3) and frames[0].rgb.std() > 10  # a picture, not black


def test_traditional_audio_round_trip() -> None:
    sent: list[Outgoing] = []
    media = SourceConfig(width=W, height=H, duration=0.5)
    encoder = schemes.encoder(Modality.AUDIO, "aac", EncoderOptions(media), sent.append)
    rate, channels, config = encoder.audio_format
    _encode(encoder, MediaSource("testsrc", media))
    assert sent and rate == media.sample_rate and channels == media.channels
    header = StreamHeader("s", W, H, 30.0, rate, channels, "h265", "aac", config)
    decoder = schemes.audio_decoder(header, DecoderOptions(playout_delay_s=0.0))
    for i, out in enumerate(sent):
        decoder.payload(_burst(out, i), out.data, 0.0)
    samples = np.concatenate(decoder.ready(1.0) + decoder.flush(0.5))
    assert samples.dtype == np.int16 and samples.shape[0] > 0.3 * rate
    assert np.abs(samples).max() > 1000  # the 440 Hz tone, not silence


def test_json_text_round_trip_and_bad_payload() -> None:
    from m3e.semantics.extractor import KeyframeSemantics

    sent: list[Outgoing] = []
    encoder = schemes.encoder(Modality.TEXT, "json", EncoderOptions(), sent.append)
    encoder.keyframe(KeyframeSemantics(45, 1.5, {"cat": 0.9}, "a cat on a sofa", ""), 4, 0.0)
    assert sent[0].index == 4 and sent[0].pts == 1.5
    decoder = schemes.text_decoder(StreamHeader("s", W, H, 30.0, text_scheme="json"), DecoderOptions())
    assert not decoder.analog
    assert decoder.decode(sent[0].data)["text"] == "a cat on a sofa"
    with pytest.raises(ValueError, match="undecodable"):
        decoder.decode(b"\xff not json")


class GrayEncoder(SchemeEncoder):
    """A toy scheme for the test below: every frame as 8-bit gray at 1/8 size."""

    def video(self, item: VideoItem, examined: object, captured: float) -> None:
        gray = item.frame.to_ndarray(format="gray")[::8, ::8]
        self.emit(Outgoing(Modality.VIDEO, self.scheme, item.pts, gray.tobytes(), captured))


class GrayDecoder(schemes.base.VideoSchemeDecoder):
    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        super().__init__(header, options)
        self.frames: list[schemes.base.PlayedFrame] = []

    def payload(self, burst: Burst, payload: bytes, now: float) -> None:
        h, w = self.header.height // 8, self.header.width // 8
        gray = np.frombuffer(payload, np.uint8).reshape(h, w).repeat(8, 0).repeat(8, 1)
        self.frames.append(schemes.base.PlayedFrame(burst.index, np.dstack([gray] * 3), False, None))

    def ready(self, now: float) -> list[schemes.base.PlayedFrame]:
        out, self.frames = self.frames, []
        return out


def test_a_new_scheme_is_a_module_and_a_register_line() -> None:
    """The processes' own classes stream a scheme they have never heard of."""
    from receiver.config import ReceiverConfig
    from receiver.session import ReceiverSession
    from sender.client import Sender
    from sender.config import SenderConfig

    here = f"{__name__}:"
    schemes.register(schemes.Scheme("gray8", Modality.VIDEO, here + "GrayEncoder", here + "GrayDecoder"))
    try:
        media = SourceConfig(width=W, height=H, duration=0.2)
        sender = Sender(SenderConfig(source="testsrc", media=media, video_scheme="gray8", audio_scheme=""))
        bursts: list[tuple[Burst, bytes]] = []
        sender._put = lambda item: bursts.append(item[:2]) if item else None  # type: ignore[method-assign]
        sender._produce(threading.Event())
        played: list[schemes.base.PlayedFrame] = []
        config = ReceiverConfig(out=None, sound_card=False)
        session = ReceiverSession(sender.header, config, on_frame=played.append)
        for burst, _ in bursts:
            assert session.on_burst(burst).kind.name == "ACK"
        assert [f.index for f in played] == list(range(6)) and played[0].rgb.shape == (H, W, 3)
    finally:
        del schemes.SCHEMES[(Modality.VIDEO, "gray8")]

"""The M3E audio decoder regenerates segments off the session's thread."""

import time
from pathlib import Path

import numpy as np
import pytest

from m3e.codecs.audio_semantic import RATE
from m3e.schemes.base import DecoderOptions
from m3e.schemes.m3e_audio import M3EAudioDecoder
from m3e.wire.messages import Burst, Modality, StreamHeader


def test_a_slow_sentence_does_not_hold_the_caller_and_segments_keep_their_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import m3e.restore.audio_player as audio_player

    def slow_speech(text: str, difference: bytes | None) -> np.ndarray:
        time.sleep(0.3)  # speaking a sentence on a busy machine
        return np.full(RATE // 10, 0.1 * len(text), np.float32)

    monkeypatch.setattr(audio_player, "regenerate_segment", slow_speech)
    decoder = M3EAudioDecoder(StreamHeader("s", 64, 48, 30.0, 16000, 1, "m3e", "m3e"), DecoderOptions())
    burst = Burst("s", 0, 0.0, Modality.AUDIO, "m3e", "qpsk", 0.5, 0, np.zeros(1, np.complex64), index=0)
    start = time.monotonic()
    decoder.sentence(0, "a", 0.0, 0.0)
    decoder.lost(burst)  # its T′: settled, so it is regenerated now
    decoder.sentence(1, "bb", 0.1, 0.0)
    assert decoder.ready(0.0) == []  # still being spoken
    assert time.monotonic() - start < 0.1  # the caller (the video's thread) went on at once
    blocks = decoder.flush(1.0)
    levels = [round(float(b[b != 0].mean()) / 32767, 1) for b in blocks]
    assert levels == [0.1, 0.2]  # segment 0, then 1 (held at the end, its T′ never came)


def test_a_voice_nobody_hears_is_not_regenerated(monkeypatch: pytest.MonkeyPatch) -> None:
    import m3e.restore.audio_player as audio_player

    spoken: list[str] = []

    def speech(text: str, difference: bytes | None) -> np.ndarray:
        spoken.append(text)
        return np.full(RATE // 10, 0.1, np.float32)

    monkeypatch.setattr(audio_player, "regenerate_segment", speech)
    header = StreamHeader("s", 64, 48, 30.0, 16000, 1, "m3e", "m3e")
    burst = Burst("s", 0, 0.0, Modality.AUDIO, "m3e", "qpsk", 0.5, 0, np.zeros(1, np.complex64), index=0)
    for listened in (False, True):
        decoder = M3EAudioDecoder(header, DecoderOptions(listened=lambda heard=listened: heard))
        decoder.sentence(0, "a", 0.0, 0.0)
        decoder.lost(burst)
        blocks = decoder.flush(1.0)
        assert (len(blocks), spoken) == ((1, ["a"]) if listened else (0, []))


def test_a_receiver_listens_through_a_recording_a_viewer_or_a_sound_card(tmp_path: Path) -> None:
    from receiver.config import ReceiverConfig
    from receiver.session import ReceiverSession

    header = StreamHeader("s", 64, 48, 30.0, 16000, 1, "m3e", "m3e-audio", b"", "m3e-text")

    def listened(session: ReceiverSession) -> bool:
        assert session._audio is not None
        return session._audio.options.listened()

    nobody = ReceiverConfig(out=None, sound_card=False)
    assert not listened(ReceiverSession(header, nobody))
    assert listened(ReceiverSession(header, ReceiverConfig(out=str(tmp_path / "rx.mp4"), sound_card=False)))
    assert listened(ReceiverSession(header, nobody, on_audio=lambda samples: None))  # the viewer

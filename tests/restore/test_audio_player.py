import logging

import numpy as np
import pytest

from m3e.codecs.audio_semantic import RATE, encode_difference
from m3e.restore.audio_player import SegmentPlayer, to_int16


def _loud(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


def test_segments_play_in_keyframe_order_on_one_track_by_presentation_time() -> None:
    player = SegmentPlayer()
    player.difference(1, encode_difference(_loud(1.0)), 2.0)  # the second keyframe first
    player.text(1, "a cup", 2.0)
    assert player.ready() == []  # waits for the first
    player.text(0, "a phone is ringing", 0.5)
    assert player.ready() == []  # its T′ is not settled yet
    player.difference(0, None, 0.5)  # lost: the sentence alone
    first, second = player.ready()
    assert np.all(first[: RATE // 2] == 0)  # silence until the first keyframe's time
    assert first.shape[0] == RATE // 2 + 2 * RATE  # the ring without T′ lasts 2 s: up to 2.5 s
    # the second segment starts at 2.0 s: the overlap is cut so the track stays in sync
    assert first.shape[0] + second.shape[0] == 3 * RATE
    assert to_int16(second).shape == (second.shape[0], 1)


def test_a_segment_begins_where_its_audio_interval_began() -> None:
    """A keyframe whose predecessor's sentence ran on past it: its T′ burst carries the later
    start of its audio, and the segment is laid there, not at the keyframe's time."""
    player = SegmentPlayer()
    player.text(0, "a cup", 0.0)
    player.difference(0, encode_difference(_loud(1.0)), 0.0)
    player.difference(1, encode_difference(_loud(1.0)), 1.5)  # the keyframe was at 0.5 s
    player.text(1, "a cup", 0.5)
    first, second = player.ready()
    assert first.shape[0] == RATE
    assert np.all(second[: RATE // 2] == 0) and second.shape[0] == RATE + RATE // 2


def test_segments_nobody_hears_are_dropped_and_the_track_goes_on_without_their_time() -> None:
    """A session the viewer did not show: its segments are dropped unspoken; when it is shown,
    its voice starts with the next segment, not after the silence of the time unheard."""
    player = SegmentPlayer()
    player.text(0, "a cup", 0.0)
    player.difference(0, encode_difference(_loud(1.0)), 0.0)
    assert player.ready(speak=False) == []
    player.text(1, "a cup", 5.0)
    player.difference(1, encode_difference(_loud(1.0)), 5.0)
    (spoken,) = player.ready()
    assert spoken.shape[0] == RATE and np.abs(spoken[: RATE // 10]).max() > 0  # no 5 s of silence first


def test_an_unsettled_segment_does_not_hold_the_track_for_ever() -> None:
    player = SegmentPlayer()
    for i in range(1, 5):
        player.text(i, "a cup", float(i))
        player.difference(i, encode_difference(_loud(1.0)), float(i))
    player.text(5, "a cup", 5.0)  # its T′ is still on its way
    out = player.ready()
    assert len(out) == 4  # keyframe 0 never came: passed over once more than three wait
    assert sum(x.shape[0] for x in out) == 5 * RATE  # 1 s of silence, then 1 s per keyframe
    assert len(player.flush()) == 1


def test_without_a_speech_synthesiser_the_track_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A machine without espeak-ng (a fresh one running make demo): the sound events and T′
    still play, the speech is missing, one log line says so."""
    from m3e.codecs import audio_semantic

    def no_espeak(text: str, *args: object, **kwargs: object) -> np.ndarray:
        if not text.strip():  # as audio_semantic.speak: nothing to say needs no synthesiser
            return np.zeros(0, np.float32)
        raise RuntimeError("speech synthesis needs espeak-ng (Debian package espeak-ng)")

    monkeypatch.setattr(audio_semantic, "speak", no_espeak)
    player = SegmentPlayer()
    for i in range(3):
        player.text(i, 'a person is speaking and a phone is ringing: "hello there"', float(i))
        player.difference(i, encode_difference(_loud(1.0)), float(i))
    with caplog.at_level(logging.WARNING):
        out = player.ready() + player.flush()
    assert sum(x.shape[0] for x in out) == 3 * RATE and max(float(np.abs(x).max()) for x in out) > 0.01
    assert len([r for r in caplog.records if "espeak-ng" in r.getMessage()]) == 1

import itertools
import time

import numpy as np
import pytest

from m3e.codecs.m3e_keyframe import KeyframeSender
from m3e.codecs.prediction import Memory, embed
from m3e.media.offline import picture, view
from m3e.restore.keyframe_player import KeyframePlayer

SIZE = (160, 120)


def _player_and_sender() -> tuple[KeyframePlayer, KeyframeSender]:
    exemplars = [Memory(-1, "a clock", embed(["a clock"])[0], view(picture("clock"), 0.0, "pan", SIZE))]
    player = KeyframePlayer("m3e", *SIZE, fps=10.0)
    player.receiver.kb.exemplars = exemplars
    return player, KeyframeSender("m3e", SIZE, exemplars=exemplars)


def test_keyframes_play_in_order_with_frames_between_them() -> None:
    player, sender = _player_and_sender()
    cup = [view(picture("coffee"), p, "pan", SIZE) for p in (0.0, 0.3)]
    cat = view(picture("chelsea"), 0.0, "pan", SIZE)
    messages = [
        sender.encode(f, t, 1500)[0] for f, t in ((cup[0], "a cup"), (cup[1], "a cup"), (cat, "a cat"))
    ]
    player.text(1, "a cup", 1.0, time.time())  # keyframe 1 first: nothing plays before keyframe 0
    player.video(1, messages[1].payload())
    assert player.ready() == []
    player.text(0, "a cup", 0.0, time.time())
    player.video(0, messages[0].payload())
    played = player.ready()
    assert [p.index for p in played] == list(range(11))  # keyframe 0, 9 interpolated, keyframe 1
    assert played[0].latency_ms is not None and played[5].latency_ms is None
    player.text(2, "a cat", 2.0, time.time())
    player.video(2, messages[2].payload())
    held = player.ready()
    assert [p.index for p in held] == list(range(11, 21))
    assert np.array_equal(held[0].rgb, played[-1].rgb)  # across a cut the last keyframe is held
    assert not np.array_equal(held[-1].rgb, played[-1].rgb)
    player.text(3, "a cat", 3.0, time.time())  # its video burst never comes
    assert player.ready() == []
    assert [p.index for p in player.flush(end_s=3.5)] == list(range(21, 36))  # from its text, then held


def test_low_latency_shows_pictures_at_once_and_warps_them_forward() -> None:
    from m3e.codecs.prediction import Prediction, estimate_motion
    from m3e.restore.keyframe_player import LowLatencyPlayer

    _, sender = _player_and_sender()
    player = LowLatencyPlayer(*SIZE, fps=10.0)
    frames = [view(picture("astronaut"), p, "pan", SIZE) for p in (0.0, 0.1, 0.2)]
    message, rebuilt = sender.encode(frames[0], None, 3000)  # no text needed
    shown = player.picture(0, message.payload(), 0.0, time.time())
    assert [p.index for p in shown] == [0] and shown[0].latency_ms is not None
    moved = player.motion(Prediction(0, estimate_motion(rebuilt, frames[2])).to_bytes(), 0.2, time.time())
    assert [p.index for p in moved] == [1, 2]  # the gap moved part of the way, then the picture
    assert not np.array_equal(moved[0].rgb, rebuilt) and not np.array_equal(moved[0].rgb, moved[1].rgb)
    assert (
        np.abs(moved[-1].rgb.astype(int) - frames[2]).mean() < np.abs(rebuilt.astype(int) - frames[2]).mean()
    )
    assert (
        player.motion(Prediction(0, estimate_motion(rebuilt, frames[1])).to_bytes(), 0.1, 0.0) == []
    )  # late
    assert (
        player.motion(Prediction(7, estimate_motion(rebuilt, frames[1])).to_bytes(), 0.3, 0.0) == []
    )  # unknown
    assert [p.index for p in player.flush(0.5)] == [3, 4, 5]


def test_low_latency_late_motion_moves_the_frames_after_it() -> None:
    """A motion sample that comes after its frame was held still moves the next frames (on a
    busy machine most come late; dropping them froze the video on its pictures)."""
    from m3e.codecs.prediction import Prediction, estimate_motion
    from m3e.restore.keyframe_player import HOLD_AFTER_S, LowLatencyPlayer

    _, sender = _player_and_sender()
    player = LowLatencyPlayer(*SIZE, fps=10.0)
    pan = [view(picture("astronaut"), p / 10, "pan", SIZE) for p in range(4)]
    message, rebuilt = sender.encode(pan[0], None, 3000)
    t0 = time.time()
    player.picture(0, message.payload(), 0.0, t0)
    held = player.hold(t0 + HOLD_AFTER_S + 0.35)
    assert [p.index for p in held] == [1, 2, 3] and all(np.array_equal(p.rgb, rebuilt) for p in held)
    late = Prediction(0, estimate_motion(rebuilt, pan[3])).to_bytes()
    assert player.motion(late, 0.3, t0 + 0.3) == []  # frame 3 has been played
    after = player.hold(t0 + HOLD_AFTER_S + 0.45)
    assert [p.index for p in after] == [4]
    error = lambda rgb: np.abs(rgb.astype(int) - pan[3]).mean()  # noqa: E731
    assert error(after[0].rgb) < 0.8 * error(rebuilt)  # it moved to where the sample says
    older = Prediction(0, estimate_motion(rebuilt, pan[1])).to_bytes()
    player.motion(older, 0.1, t0 + 0.1)  # older than the one applied: changes nothing
    assert np.array_equal(player.hold(t0 + HOLD_AFTER_S + 0.55)[0].rgb, after[0].rgb)


def test_low_latency_late_picture_shows_from_the_next_frame() -> None:
    """A picture that comes after its frame was held replaces the held one from the next frame
    (it was dropped, and the older picture held until the next cut); an older one does not."""
    from m3e.restore.keyframe_player import HOLD_AFTER_S, LowLatencyPlayer

    _, sender = _player_and_sender()
    player = LowLatencyPlayer(*SIZE, fps=10.0)
    first, second = (view(picture(name), 0.0, "pan", SIZE) for name in ("astronaut", "chelsea"))
    message, rebuilt = sender.encode(first, None, 3000)
    sender.remember(0, "", rebuilt)
    t0 = time.time()
    player.picture(0, message.payload(), 0.0, t0)
    assert [p.index for p in player.hold(t0 + HOLD_AFTER_S + 0.35)] == [1, 2, 3]
    late, late_rebuilt = sender.encode(second, None, 3000)
    assert player.picture(1, late.payload(), 0.2, t0 + 0.2) == []  # frame 2 has been played
    after = player.hold(t0 + HOLD_AFTER_S + 0.45)
    assert [p.index for p in after] == [4] and np.array_equal(after[0].rgb, late_rebuilt)
    assert player.first_shown == {0: 0, 2: 4}  # where each picture first showed
    assert player.picture(0, message.payload(), 0.3, t0 + 0.3) == []  # older than the one shown
    assert np.array_equal(player.hold(t0 + HOLD_AFTER_S + 0.55)[0].rgb, late_rebuilt)


def test_motion_samples_move_the_keyframe_until_the_next_one() -> None:
    from m3e.codecs.prediction import Prediction, estimate_motion

    player, sender = _player_and_sender()
    pan = [view(picture("astronaut"), p / 20, "pan", SIZE) for p in range(10)]
    cat = view(picture("chelsea"), 0.0, "pan", SIZE)
    for f in (3, 6, 9):  # the sender's samples: frame f from keyframe frame 0
        player.motion(Prediction(0, estimate_motion(pan[0], pan[f])).to_bytes(), f / 10)
    with pytest.raises(ValueError):
        player.motion(b"short", 0.4)
    for index, (image, text, pts) in enumerate(((pan[0], "a person", 0.0), (cat, "a cat", 1.0))):
        player.text(index, text, pts, 0.0)
        player.video(index, sender.encode(image, text, 3000)[0].payload())
    played = player.ready()
    assert [p.index for p in played] == list(range(11))
    between = [p.rgb for p in played[1:10]]
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(between))  # it moves
    err_moved = np.abs(played[9].rgb.astype(int) - pan[9]).mean()
    assert err_moved < np.abs(played[0].rgb.astype(int) - pan[9]).mean()  # towards where the camera went


def test_frames_between_keyframes_are_made_when_looked_at_and_play_the_same() -> None:
    """Frames after a played keyframe are made only when looked at (a receiver nobody watches
    moves no pixels), whether their motion came before the keyframe or after it, and play the
    same either way."""
    from m3e.codecs.prediction import Prediction, estimate_motion
    from m3e.restore.picture import LazyPicture

    pan = [view(picture("astronaut"), p / 20, "pan", SIZE) for p in range(10)]
    cat = view(picture("chelsea"), 0.0, "pan", SIZE)
    samples = [Prediction(0, estimate_motion(pan[0], pan[f])).to_bytes() for f in (3, 6, 9)]
    runs = []
    for live in (False, True):
        player, sender = _player_and_sender()
        keyframes = [(pan[0], "a person", 0.0), (cat, "a cat", 1.0)]
        payloads = [sender.encode(image, text, 3000)[0].payload() for image, text, _ in keyframes]
        if not live:
            for f, sample in zip((3, 6, 9), samples, strict=True):
                player.motion(sample, f / 10)
        player.text(0, "a person", 0.0, 0.0)
        player.video(0, payloads[0])
        played = player.ready()
        if live:
            for f, sample in zip((3, 6, 9), samples, strict=True):
                player.motion(sample, f / 10)
        player.text(1, "a cat", 1.0, 0.0)
        player.video(1, payloads[1])
        run = played + player.ready()
        between = [p.picture for p in run[1:10]]
        assert all(isinstance(p, LazyPicture) and not p.made for p in between)
        runs.append(run)
    assert [p.index for p in runs[1]] == [p.index for p in runs[0]] == list(range(11))
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(runs[1], runs[0], strict=True))
    moved = runs[0][9].rgb  # the camera's pan, not the keyframe held
    assert np.abs(moved.astype(int) - pan[9]).mean() < np.abs(runs[0][0].rgb.astype(int) - pan[9]).mean()


def test_a_stream_ending_before_its_last_keyframe_adds_no_frames() -> None:
    from m3e.codecs.prediction import Prediction, estimate_motion

    player, sender = _player_and_sender()
    pan = [view(picture("astronaut"), p / 20, "pan", SIZE) for p in range(4)]
    player.text(0, "a person", 0.5, 0.0)  # at frame 5
    player.video(0, sender.encode(pan[0], "a person", 3000)[0].payload())
    assert [p.index for p in player.ready()] == [5]
    for f in (1, 2, 3):  # frames 6, 7, 8 moved ahead
        player.motion(Prediction(5, estimate_motion(pan[0], pan[f])).to_bytes(), (5 + f) / 10)
    assert [p.index for p in player.flush(end_s=0.3)] == []  # an end time before it (a clock step)


def test_low_latency_still_camera_plays_the_picture_itself() -> None:
    """A still camera's motion samples (the identity) play the picture held, one array, so the
    viewer encodes and sends it once instead of a copy per frame."""
    from m3e.codecs.prediction import Prediction
    from m3e.restore.interpolation import IDENTITY
    from m3e.restore.keyframe_player import LowLatencyPlayer

    _, sender = _player_and_sender()
    player = LowLatencyPlayer(*SIZE, fps=10.0)
    message, _ = sender.encode(view(picture("astronaut"), 0.0, "pan", SIZE), None, 3000)
    t0 = time.time()
    shown = player.picture(0, message.payload(), 0.0, t0)
    sample = Prediction(0, IDENTITY).to_bytes()
    still = [p for f in (1, 2, 3) for p in player.motion(sample, f / 10, t0 + f / 10)]
    assert [p.index for p in still] == [1, 2, 3]
    assert all(p.rgb is shown[0].rgb for p in still)

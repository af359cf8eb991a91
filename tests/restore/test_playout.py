import pytest

from m3e.restore.playout import PacedPlayout, PlayoutBuffer


def test_releases_in_order_despite_arrival_order() -> None:
    b = PlayoutBuffer[str](delay_s=1.0)
    b.put(1, "b", 0.0)
    assert b.pop_ready(0.1) == []
    b.put(0, "a", 0.2)
    assert b.pop_ready(0.2) == [(0, "a"), (1, "b")]


def test_given_up_unit_is_skipped_at_once() -> None:
    b = PlayoutBuffer[str](delay_s=10.0)
    b.put(1, "b", 0.0)
    b.give_up(0)
    assert b.pop_ready(0.0) == [(0, None), (1, "b")]
    assert b.skipped == 1


def test_missing_unit_is_skipped_after_the_delay() -> None:
    b = PlayoutBuffer[str](delay_s=0.3)
    b.put(2, "c", 1.0)
    assert b.pop_ready(1.2) == []
    assert b.pop_ready(1.31) == [(0, None), (1, None), (2, "c")]


def test_late_units_are_dropped() -> None:
    b = PlayoutBuffer[str](delay_s=0.0)
    b.put(1, "b", 0.0)
    b.pop_ready(0.0)
    b.put(0, "a", 0.1)
    assert b.late == 1 and len(b) == 0
    with pytest.raises(ValueError):
        PlayoutBuffer[str](delay_s=-1)


def test_paced_frames_play_one_after_another_as_late_as_the_latest_batch() -> None:
    """A keyframe interval's frames come at once; they play at the frame rate, each the same
    time after its capture (the batch's first frame was the latest)."""
    paced = PacedPlayout[str](fps=10.0)
    c0 = 1000.0  # wall time frame 0 was captured
    paced.put([(0, "k0")], clock=c0, now=c0 + 0.5)  # keyframe 0, 0.5 s after its capture
    assert paced.due(c0 + 0.5) == [(0, "k0")]
    # keyframe 10 ready 0.5 s after its capture: frames 1..10 arrive together
    arrival = c0 + 1.0 + 0.5
    paced.put([(i, f"f{i}") for i in range(1, 11)], clock=c0, now=arrival)
    assert paced.delay_s == pytest.approx(1.4)  # frame 1's capture to arrival
    assert len(paced) == 10
    released = [[i for i, _ in paced.due(arrival + k * 0.1 + 1e-9)] for k in range(10)]
    assert released == [[i] for i in range(1, 11)]  # one per frame period, in order
    assert paced.due(arrival + 5.0) == []


def test_paced_delay_falls_after_the_window_and_unknown_clocks_play_at_once() -> None:
    paced = PacedPlayout[int](fps=10.0, window_s=10.0)
    c0 = 0.0
    paced.put([(1, 1)], clock=c0, now=c0 + 9.0)  # a long interval: 8.9 s late
    assert paced.delay_s == pytest.approx(8.9)
    paced.put([(2, 2)], clock=c0, now=c0 + 20.0)  # the long one left the window
    assert paced.delay_s == pytest.approx(19.8)
    paced.put([(300, 3)], clock=c0, now=c0 + 31.0)
    assert paced.delay_s == pytest.approx(1.0)
    assert [i for i, _ in paced.due(c0 + 31.0)] == [1, 2, 300]  # overdue: at once, in order
    unknown = PacedPlayout[int](fps=10.0)
    unknown.put([(5, 5), (6, 6)], clock=None, now=3.0)
    assert unknown.due(3.0) == [(5, 5), (6, 6)]
    unknown.put([(7, 7)], clock=100.0, now=200.0)
    assert unknown.rest() == [(7, 7)] and unknown.rest() == []
    with pytest.raises(ValueError):
        PacedPlayout[int](fps=0.0)

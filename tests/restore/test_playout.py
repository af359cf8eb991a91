import pytest

from m3e.restore.playout import PlayoutBuffer


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

from m3e.semantics.english import has_name_or_number, held_out_set, part_of


def test_held_out_sets_are_outside_the_training_part() -> None:
    """The split is by a hash of the text: no committed evaluation or calibration sentence
    can be drawn for training, whatever the corpus holds."""
    test, calibration = held_out_set("test"), held_out_set("calibration")
    assert len(test) >= 500 and len(calibration) >= 500
    assert {part_of(s) for s in test} == {"test"}
    assert {part_of(s) for s in calibration} == {"calibration"}
    assert not set(test) & set(calibration)


def test_held_out_sets_are_natural_and_hard() -> None:
    test = held_out_set("test")
    assert all(5 <= len(s.split()) <= 25 for s in test)
    assert sum(map(has_name_or_number, test)) >= 0.5 * len(test)
    assert not any(s.startswith("a person is speaking") for s in test)  # no template of ours


def test_names_and_numbers_are_recognised() -> None:
    assert has_name_or_number("We met Anna in the park")
    assert has_name_or_number("it costs 5 dollars")
    assert not has_name_or_number("The cat sat on the mat")

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


def test_an_exported_corpus_replaces_the_debian_packages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A GPU box without wordnet-base and fortunes trains from ``--export``'s folder."""
    import pytest

    from m3e.semantics import english

    with pytest.raises(RuntimeError, match="no exported corpus"):
        english.use_exported(tmp_path)
    (tmp_path / "train.txt").write_text("Anna met Bob at 5 in Oslo.\nThe river runs past the old mill.\n")
    (tmp_path / "fusion.txt").write_text("a cat and a sofa\n")
    try:
        english.use_exported(tmp_path)
        assert english.natural_sentences("train") == (
            "Anna met Bob at 5 in Oslo.",
            "The river runs past the old mill.",
        )
        stream = english.training_stream(0, 0, 200)
        assert any("a cat and a sofa" == s for s in stream)
        assert any("Oslo" in s and "speaking" in s for s in stream)  # the fusion's spoken form
        assert all("river" in s or "Oslo" in s or s == "a cat and a sofa" for s in stream)
    finally:
        english.use_exported(None)

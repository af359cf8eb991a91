"""The committed gRPC stubs must be what protos/ generates (Flower's stale-stub check)."""

from pathlib import Path

from m3e.wire.generate import GENERATED, WIRE, generate


def test_generated_stubs_are_up_to_date(tmp_path: Path) -> None:
    generate(tmp_path)
    for name in GENERATED:
        assert (tmp_path / name).read_text() == (WIRE / name).read_text(), (
            f"m3e/wire/{name} is stale: run `python -m m3e.wire.generate`"
        )

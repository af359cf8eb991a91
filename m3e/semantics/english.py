"""Natural English sentences for the semantic text link: text that no template of this project
wrote, from two Debian packages that install offline.

- ``wordnet-base`` (WordNet 3.0, Princeton University; WordNet 3.0 licence, BSD-like): the usage
  examples quoted in the synset glosses ("I'll meet you at the station at noon"), ~48,000.
- ``fortunes`` (fortune-mod's data, BSD licence): quotations, jokes and dialogue, split into
  sentences, ~20,000.

Every sentence of 5–25 words goes to one part by a stable hash of its text: ``train`` (90 %),
``calibration`` (5 %, the receiver's ξ̂) and ``test`` (5 %, evaluation only). The committed sets
under ``m3e/eval/data/`` (``natural_test.txt``, ``natural_calibration.txt``) were drawn from the
last two parts by ``python -m m3e.semantics.english --write-sets``; training never reads them,
and a sentence of theirs can never land in ``train``.

To train on a machine without the Debian packages (a GPU box), ``--export DIR`` writes every
part and the fusion's forms as text files, and ``use_exported(DIR)`` (the trainer's ``--corpus``)
reads them instead.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import random
import re
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
FORTUNES = Path("/usr/share/games/fortunes")
SETS = Path(__file__).resolve().parents[1] / "eval" / "data"
PARTS = {"train": range(0, 90), "calibration": range(90, 95), "test": range(95, 100)}
_ALLOWED = re.compile(r"[A-Za-z0-9 ,.;:'\"!?()$%&/-]+")
_exported: Path | None = None  # a folder written by export(), read instead of the packages


def part_of(sentence: str) -> str:
    """The part a sentence belongs to, by a stable hash of its lower-cased text."""
    bucket = int(hashlib.sha1(sentence.lower().encode()).hexdigest(), 16) % 100
    return next(name for name, r in PARTS.items() if bucket in r)


def _keep(sentence: str) -> bool:
    return 5 <= len(sentence.split()) <= 25 and bool(_ALLOWED.fullmatch(sentence))


def wordnet_examples() -> list[str]:
    out = []
    for path in sorted(WORDNET.glob("data.*")):
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            out += re.findall(r'"([^"]{10,200})"', line.split("|", 1)[1])
    return out


def fortune_sentences() -> list[str]:
    out = []
    for path in sorted(FORTUNES.iterdir()):
        if "." in path.name or not path.is_file():
            continue
        for record in path.read_text(encoding="latin-1").split("\n%\n"):
            if re.search(r"[|_/\\]{3}|   ", record):  # drawings and verse laid out in columns
                continue
            record = re.sub(r"\s*--\s*[^\n]*$", "", record.strip())  # the attribution
            record = re.sub(r"\s+", " ", record)
            out += re.split(
                r"(?<!\bMr\.)(?<!\bMrs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bvs\.)(?<=[.!?])\s+(?=[A-Z\"])", record
            )
    return out


@functools.cache
def natural_sentences(part: str) -> tuple[str, ...]:
    """Every kept sentence of one part, in a fixed order. RuntimeError when the Debian packages
    are missing (only training and ``--write-sets`` read them)."""
    if _exported is not None:
        return tuple((_exported / f"{part}.txt").read_text().splitlines())
    if not WORDNET.is_dir() or not FORTUNES.is_dir():
        raise RuntimeError("the natural-English corpus needs the Debian packages wordnet-base and fortunes")
    seen: set[str] = set()
    out = []
    for s in wordnet_examples() + fortune_sentences():
        s = s.strip()
        if _keep(s) and s.lower() not in seen and part_of(s) == part:
            seen.add(s.lower())
            out.append(s)
    return tuple(out)


def names_and_numbers(sentence: str) -> list[str]:
    """The words a sentence cannot lose, lower-cased: numbers, and capitalised words after its
    first (names, places)."""
    found = re.findall(r"\d[\d.,:]*\d|\d", sentence)
    found += re.findall(r"(?<=[a-z,;:\"] )[A-Z][A-Za-z']+", sentence)
    return [w.lower() for w in found]


def has_name_or_number(sentence: str) -> bool:
    return bool(names_and_numbers(sentence))


def held_out_set(part: str) -> list[str]:
    """The committed evaluation (``test``) or calibration sentences."""
    name = {"test": "natural_test.txt", "calibration": "natural_calibration.txt"}[part]
    return [s for s in (SETS / name).read_text().splitlines() if s.strip()]


def training_stream(seed: int, step: int, batch: int) -> list[str]:
    """The sentences of one training step, a pure function of (seed, step) so that a resumed run
    sees the same stream: 65 % natural sentences, 20 % of them as the fusion's spoken form
    (``a person is speaking: "…"``), 15 % the fusion's object forms; numbers in a natural
    sentence are redrawn 30 % of the time, so that any number is seen."""
    rng = random.Random(seed * 1_000_003 + step)
    natural, fusion = natural_sentences("train"), _fusion_forms()
    out = []
    for _ in range(batch):
        u = rng.random()
        if u < 0.15:
            out.append(rng.choice(fusion))
            continue
        s = rng.choice(natural)
        if rng.random() < 0.3:
            s = re.sub(r"\d+", lambda _: str(rng.randrange(rng.choice((10, 100, 10_000)))), s)
        out.append(f'a person is speaking: "{s}"' if u < 0.35 else s)
    return out


@functools.cache
def _fusion_forms() -> tuple[str, ...]:
    if _exported is not None:
        return tuple((_exported / "fusion.txt").read_text().splitlines())
    from m3e.semantics.corpus import corpus

    return tuple(s for s in corpus() if "speaking" not in s)


def export(folder: Path) -> None:
    """Write each part (``train.txt``, …) and the fusion's forms (``fusion.txt``) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        (folder / f"{part}.txt").write_text("\n".join(natural_sentences(part)) + "\n")
    (folder / "fusion.txt").write_text("\n".join(_fusion_forms()) + "\n")


def use_exported(folder: Path | None) -> None:
    """Read the corpus from a folder that ``export`` wrote instead of the Debian packages
    (None: the packages again)."""
    global _exported
    if folder is not None and not ((folder / "train.txt").is_file() and (folder / "fusion.txt").is_file()):
        raise RuntimeError(
            f"{folder} holds no exported corpus (python -m m3e.semantics.english --export DIR)"
        )
    _exported = folder
    natural_sentences.cache_clear()
    _fusion_forms.cache_clear()


def write_sets(n: int = 600) -> None:
    """Draw the committed held-out sets: per part, n sentences, at least 60 % with a name or a
    number (the hard cases of the issue) and the rest plain."""
    SETS.mkdir(parents=True, exist_ok=True)
    for part, name in (("test", "natural_test.txt"), ("calibration", "natural_calibration.txt")):
        rng = random.Random(2026)
        pool = list(natural_sentences(part))
        hard = [s for s in pool if has_name_or_number(s)]
        plain = [s for s in pool if not has_name_or_number(s)]
        n_hard = min(len(hard), int(0.6 * n))
        chosen = rng.sample(hard, n_hard) + rng.sample(plain, n - n_hard)
        rng.shuffle(chosen)
        (SETS / name).write_text("\n".join(chosen) + "\n")
        print(f"{name}: {n} sentences ({n_hard} with a name or number) of {len(pool)} in '{part}'")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="the natural-English corpus")
    ap.add_argument("--write-sets", action="store_true")
    ap.add_argument("--export", type=Path, metavar="DIR", help="write every part and the fusion forms here")
    args = ap.parse_args()
    if args.write_sets:
        write_sets()
    elif args.export:
        export(args.export)
    else:
        for part in PARTS:
            print(part, len(natural_sentences(part)))

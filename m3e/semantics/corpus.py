"""Sentences the semantic text link is trained and tested on, generated from the
recognition vocabularies and the sentence forms of ``m3e.semantics.fusion`` plus short
spoken transcripts. ``split`` gives a fixed train / held-out partition."""

from __future__ import annotations

import itertools
import random

from m3e.semantics.vocabulary import AUDIO_EVENTS, VOCABULARY, imagenet_noun

NOUNS = [n for n in VOCABULARY if n != "other"]
# every other name the image recogniser can put in a sentence ("a drilling rig")
RARE_NOUNS = sorted({imagenet_noun(i) for i in range(1000)} - set(NOUNS))
VERBS: dict[str, list[str]] = {}
for _noun, _verb in AUDIO_EVENTS.values():
    VERBS.setdefault(_noun, [])
    if _verb not in VERBS[_noun]:
        VERBS[_noun].append(_verb)

_SUBJECTS = [
    "the astronaut",
    "my friend",
    "the team",
    "the driver",
    "the teacher",
    "our neighbour",
    "the doctor",
]
_ACTIONS = [
    "is talking about",
    "is looking at",
    "is waiting for",
    "is pointing at",
    "is laughing about",
    "is asking about",
    "is thinking of",
]
_OBJECTS = [
    "the mission to the moon",
    "the red car",
    "the small cat",
    "the new phone",
    "the old train",
    "the rocket launch",
    "the coffee cup",
    "the weather today",
    "the pictures",
    "the football match",
]
_REQUESTS = [
    "please send the pictures of the {} to the team",
    "can you bring the {} to the office",
    "look at the {} over there",
    "where is the {} now",
    "i think the {} is broken",
]


def _article(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _phrase(noun: str, rng: random.Random) -> str:
    verbs = VERBS.get(noun)
    return f"{_article(noun)} is {rng.choice(verbs)}" if verbs and rng.random() < 0.6 else _article(noun)


def transcripts() -> list[str]:
    spoken = [f"{s} {a} {o}" for s, a, o in itertools.product(_SUBJECTS, _ACTIONS, _OBJECTS)]
    spoken += [r.format(n) for r in _REQUESTS for n in NOUNS]
    return spoken


def corpus(n: int = 20000, seed: int = 0) -> list[str]:
    """Unique sentences in the forms the sender produces."""
    rng = random.Random(seed)
    spoken = transcripts()
    out = {"nothing recognised"}
    while len(out) < n:
        kind = rng.random()
        a, b = rng.sample(NOUNS, 2)
        if rng.random() < 0.3:
            a = rng.choice(RARE_NOUNS)
        if kind < 0.25:
            s = _phrase(a, rng)
        elif kind < 0.55:
            s = f"{_phrase(a, rng)} and {_phrase(b, rng)}"
        elif kind < 0.65:
            c = rng.choice([x for x in NOUNS if x not in (a, b)])
            s = f"{_phrase(a, rng)} and {_phrase(b, rng)} and {_phrase(c, rng)}"
        else:
            who = "a person is speaking" if rng.random() < 0.8 else "someone is speaking"
            extra = f" and {_phrase(a, rng)}" if rng.random() < 0.3 else ""
            s = f'{who}{extra}: "{rng.choice(spoken)}"'
        out.add(s)
    return sorted(out)


def split(sentences: list[str], held_out: float = 0.1, seed: int = 0) -> tuple[list[str], list[str]]:
    """(train, test): a fixed random partition."""
    rng = random.Random(seed)
    shuffled = sentences[:]
    rng.shuffle(shuffled)
    k = int(len(shuffled) * held_out)
    return shuffled[k:], shuffled[:k]

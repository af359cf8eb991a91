"""The viewer shows one session, the newest with media: the others' frames and voices are not
handed to it, so they are never made."""

from types import SimpleNamespace

import numpy as np

from m3e.restore.picture import LazyPicture
from m3e.schemes.base import PlayedFrame
from m3e.wire.messages import StreamHeader
from receiver.config import ReceiverConfig
from receiver.session import ReceiverSession
from receiver.viewer import Viewer


def _session(sid: str, has_media: bool) -> SimpleNamespace:
    return SimpleNamespace(header=StreamHeader(sid, 64, 48, 30.0), has_media=has_media)


def test_only_the_session_shown_plays_to_the_page_and_is_heard() -> None:
    viewer = Viewer()
    old, new = _session("old", True), _session("new", False)
    viewer.service = SimpleNamespace(sessions={"old": old, "new": new})  # type: ignore[assignment]
    made: list[str] = []

    def frame(sid: str) -> PlayedFrame:
        return PlayedFrame(
            0, LazyPicture(lambda: made.append(sid) or np.zeros((48, 64, 3), np.uint8)), False, None
        )

    (old_frame, _, old_shown), (new_frame, new_audio, new_shown) = viewer.sinks("old"), viewer.sinks("new")
    assert old_shown() and not new_shown()  # the new one has no media yet
    new_frame(frame("new"))
    new_audio(np.zeros((10, 1), np.int16))
    old_frame(frame("old"))
    assert [f[1] for f in viewer._frames] == [0] and not viewer._audio
    viewer._newest()
    assert made == ["old"]
    new.has_media = True
    assert new_shown() and not old_shown()

    header = StreamHeader("new", 64, 48, 30.0, 16000, 1, "m3e", "m3e-audio", b"", "m3e-text")
    session = ReceiverSession(
        header, ReceiverConfig(out=None, sound_card=False), new_frame, new_audio, watched=new_shown
    )
    assert session._audio is not None
    assert session._audio.options.listened()  # heard while shown
    new.has_media = False
    assert not session._audio.options.listened()

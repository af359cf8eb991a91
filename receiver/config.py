"""The receiver's configuration, built from ``m3e.config.Settings``."""

from __future__ import annotations

from dataclasses import dataclass

from m3e.config import Settings


@dataclass
class ReceiverConfig:
    out: str | None = "received.mp4"
    max_retries: int = 3
    xi_threshold: float = 0.6  # m3e-text: ask again while the estimated ξ̂ is below this
    until_exact: bool = (
        True  # m3e-text: and while the sentence check fails (``SentenceEstimate.wants_again``)
    )
    playout_delay_s: float = 0.3
    sound_card: bool = True
    stats_path: str | None = None  # the server writes the session's summary here (JSON)
    session_idle_s: float = 60.0  # a session no stream has carried for this long is closed
    max_sessions: int = 16  # live sessions at once; a new one beyond them is refused


def receiver_config(s: Settings, stats_path: str | None = None) -> ReceiverConfig:
    """The receiver's configuration from the settings (defaults < TOML < env < flags)."""
    return ReceiverConfig(
        out=str(s.out),
        max_retries=s.max_retries,
        xi_threshold=s.xi_threshold,
        until_exact=s.until_exact,
        playout_delay_s=s.playout_delay_ms / 1000,
        stats_path=stats_path,
        session_idle_s=s.session_idle_s,
        max_sessions=s.max_sessions,
    )

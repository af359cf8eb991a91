"""One configuration object for every command: defaults < TOML file < environment
(``M3E_SNR_DB=5``) < command-line flags. Validated by pydantic; ``seed`` reproduces a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="M3E_", extra="forbid")

    # source and media
    source: str = "testsrc"
    width: int = Field(720, ge=16, le=7680)
    height: int = Field(480, ge=16, le=4320)
    fps: float = Field(30.0, gt=0, le=120)
    sample_rate: int = 48000
    channels: int = Field(1, ge=1, le=2)
    duration: float | None = Field(None, gt=0)
    realtime: bool = True
    # schemes and channel coding
    scheme: str = "h265"  # any video scheme of the registry (m3e.schemes)
    m3e_budget: int = Field(5000, ge=0, le=1_000_000)
    equal_rate_kbps: float = Field(8.0, ge=1, le=100_000)  # h265-equal-rate: M3E's own rate
    m3e_refresh_kbps: float = Field(4.0, ge=0, le=100_000)  # M3E low latency: pictures between cuts
    audio_scheme: str = "aac"  # an audio scheme of the registry, or "none"
    modulation: Literal["bpsk", "qpsk", "16qam", "64qam"] = "16qam"
    code_rate: float = Field(0.75, ge=0.2, le=0.95)
    pilot_spacing: int = Field(256, ge=2)
    pilot_count: int = Field(4, ge=1)
    gop: int = Field(30, ge=1)
    crf: int = Field(28, ge=0, le=51)
    max_retries: int = Field(3, ge=0, le=16)
    text_scheme: str = "m3e-text"  # a text scheme of the registry
    xi_threshold: float = Field(0.6, ge=0, le=1)
    until_exact: bool = True  # m3e-text: also ask again while the sentence check fails
    retransmit_by: Literal["receiver", "genie"] = "receiver"
    reconnect_timeout_s: float = Field(30.0, gt=0)
    feedback_timeout_ms: float = Field(0.0, ge=0, le=60_000)  # sender's HARQ timer; 0: adaptive
    min_delivered: float = Field(0.5, ge=0, le=1)  # sender: fail below this fraction delivered
    # channel
    snr_db: float = 20.0
    fading: Literal["awgn", "rayleigh", "rician"] = "rayleigh"
    coherence: int = Field(256, ge=1)
    k_factor: float = Field(0.0, ge=0)
    symbol_rate: float = Field(0.0, ge=0)
    delay_ms: float = Field(0.0, ge=0)
    erasure_prob: float = Field(0.0, ge=0, le=1)
    feedback_loss: float = Field(0.0, ge=0, le=1)
    # network
    host: str = "127.0.0.1"
    receiver_port: int = Field(50052, ge=0, le=65535)
    relay_port: int = Field(50051, ge=0, le=65535)
    viewer_port: int = Field(8080, ge=0, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    # who may steer the channel (docs/security.md): the deployment's control token, or a file
    # that holds it (made when missing)
    control_token: str | None = None
    control_token_file: Path | None = None
    # output
    out: Path = Path("received.mp4")
    playout_delay_ms: float = Field(300.0, ge=0)
    session_idle_s: float = Field(60.0, gt=0)  # receiver: close a session idle this long
    max_sessions: int = Field(16, ge=1, le=10_000)  # relay and receiver: live sessions at once
    # relay: the queue toward each receiver, in MB and in seconds a landed burst may wait
    relay_queue_mb: float = Field(32.0, gt=0, le=4096)
    relay_queue_s: float = Field(2.0, gt=0, le=60)
    seed: int = 0

    @field_validator("scheme", "audio_scheme", "text_scheme")
    @classmethod
    def _registered(cls, name: str, info: ValidationInfo) -> str:
        from m3e import schemes
        from m3e.wire.messages import Modality

        modality = {"scheme": Modality.VIDEO, "audio_scheme": Modality.AUDIO}.get(
            info.field_name or "", Modality.TEXT
        )
        choices = schemes.names(modality) + (("none",) if modality == Modality.AUDIO else ())
        if name not in choices:
            raise ValueError(f"{name!r} is not one of {list(choices)}")
        return name


def load_settings(cli: dict[str, Any], toml_file: Path | None = None) -> Settings:
    """Settings from flags that were given (``cli``), the environment and a TOML file.

    Raises ValueError with one line per problem."""
    if toml_file is not None and not toml_file.is_file():
        raise ValueError(f"no such config file: {toml_file}")

    class _Layered(Settings):
        model_config = SettingsConfigDict(env_prefix="M3E_", extra="forbid", toml_file=toml_file)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    try:
        return Settings(**_Layered(**{k: v for k, v in cli.items() if v is not None}).model_dump())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid settings: {problems}") from None


def settings_env(s: Settings) -> dict[str, str]:
    """``s`` as the environment (``M3E_*``) from which a child process loads the same
    settings: how ``m3e demo`` and ``m3e call`` hand theirs to the processes they start."""
    return {f"M3E_{name.upper()}": str(value) for name, value in s.model_dump().items() if value is not None}

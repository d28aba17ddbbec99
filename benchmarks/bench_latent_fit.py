"""How much of each channel group of the clean latent does a U-Net explain at noise level t?

Usage::

    python benchmarks/bench_latent_fit.py --model MODEL_DIR --cache LATENT_CACHE \\
        --json fit.json [--model OTHER_MODEL ...]

For clips of the cache's val split (evenly spaced), each model's x0 estimate (text-to-music
mode, the clip's own caption) at t = 0.1 .. 0.9 is compared with the clean latent, in the
autoencoder's own (denormalised) units, per channel group: R^2 = 1 - MSE / variance. The
"shrink" row is what a model that learnt nothing about the data gets: the Wiener estimate of a
unit-variance latent from x_t alone (the latents are whitened), in closed form. A group whose R^2
stays at the shrink row has not been learnt. Groups: the hybrid codec's low band (its first
``lowband_mid + lowband_side`` channels, in the cache's view) and the learnt channels.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMES = (0.1, 0.3, 0.5, 0.7, 0.9)


def shrink_r2(t: float, dcfg) -> float:
    """R^2 of E[z | x_t] for z ~ N(0, 1): alpha^2 / (alpha^2 + sigma^2)."""
    from jen1.diffusion.schedule import alpha_sigma

    a, s = alpha_sigma(torch.tensor([t]), dcfg)
    return float(a**2 / (a**2 + s**2))


@torch.no_grad()
def fit(model: Path, cache_dir: Path, clips: int, frames: int, seed: int) -> dict:
    """R^2 per group and time for one model on the cache's val clips."""
    from jen1.conditioning.conditions import Conditions
    from jen1.conditioning.tasks import build_unet_input
    from jen1.data.latents import LatentCache
    from jen1.diffusion.objective import add_noise, prediction_to_x0_eps
    from jen1.diffusion.schedule import alpha_sigma
    from jen1.models import load_components

    cfg, mods = load_components(model, ("unet",))
    unet = mods["unet"].float().eval()
    cache = LatentCache(cache_dir)
    norm = cache.normalizer()
    val = cache.load_split("val")
    idx = torch.linspace(0, len(val["z"]) - 1, clips).round().long()
    n = min(frames, int(val["lengths"][idx].min()))
    raw = val["z"][idx, :, :n].float()
    z = norm.normalize(raw)
    b, c, t_len = z.shape
    k = cfg.autoencoder.lowband_channels
    groups = {"low band": slice(0, k), "learnt": slice(k, c)} if k else {"all": slice(0, c)}
    gen = torch.Generator().manual_seed(seed)
    cond = Conditions(
        text_emb=val["text_emb"][idx].float(),
        text_mask=val["text_mask"][idx],
        known=z,
        mask=torch.zeros(b, 1, t_len),
        controls=None,
    )
    rows = []
    for t in TIMES:
        tt = torch.full((b,), t)
        a, s = alpha_sigma(tt, cfg.diffusion)
        x_t = add_noise(z, torch.randn(z.shape, generator=gen), a, s)
        pred = unet(build_unet_input(x_t, z, cond.mask), tt, cond, causal=False)
        x0, _ = prediction_to_x0_eps(pred.float(), x_t, a, s, cfg.diffusion.objective)
        err = (norm.denormalize(x0) - raw).square()
        row = {"t": t, "shrink": shrink_r2(t, cfg.diffusion)}
        for name, sl in groups.items():
            row[name] = 1.0 - float(err[:, sl].mean()) / float(raw[:, sl].var())
        rows.append(row)
    return {"model": str(model), "clips": b, "frames": t_len, "rows": rows}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, action="append", required=True)
    p.add_argument("--cache", type=Path, required=True, help="latent cache (its val split)")
    p.add_argument("--clips", type=int, default=12)
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = [fit(m, args.cache, args.clips, args.frames, args.seed) for m in args.model]
    for r in results:
        names = [k for k in r["rows"][0] if k not in ("t",)]
        print(f"{r['model']}: {r['clips']} val clips x {r['frames']} frames, R^2 of x0")
        print("  t    " + "".join(f"{n:>10}" for n in names))
        for row in r["rows"]:
            print(f"  {row['t']:.1f}  " + "".join(f"{row[n]:>+10.3f}" for n in names))
    out = {"cache": str(args.cache), "results": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()

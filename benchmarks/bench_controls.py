"""Control conditioning paths compared on the toy click corpus (issue 21).

Trains the tiny U-Net of :mod:`jen1.eval.toy_tempo` on clicks at random tempi and phases with
each conditioning path (global embedding only, time-aligned channels only, both), then samples
one clip per asked tempo and reports the share within 4 % and 8 % of the asked tempo (and, as
the floor, the same models with every control absent). Same seeds, data and budget for every
path.

    python benchmarks/bench_controls.py [--steps 300] [--seeds 0 1] [--tempi 12] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

PATHS = {"global": (True, False), "aligned": (False, True), "global+aligned": (True, True)}


def main(argv: list[str] | None = None) -> dict:
    import torch

    from jen1.eval.toy_tempo import BPM_RANGE, ToyRun, tempo_errors, train_toy

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="training steps per model")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds")
    p.add_argument("--tempi", type=int, default=12, help="asked tempi, log-spaced over the range")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    lo, hi = BPM_RANGE
    # asked tempi strictly inside the trained range, none equal to a training draw
    asked = list(np.exp(np.linspace(np.log(lo * 1.05), np.log(hi * 0.95), args.tempi)))
    rows = {}
    for name, (glob, aligned) in PATHS.items():
        errs, free, secs, losses = [], [], 0.0, []
        for seed in args.seeds:
            run = ToyRun(aligned=aligned, global_embed=glob, steps=args.steps, seed=seed)
            t0 = time.perf_counter()
            unet, curve = train_toy(run)
            secs += time.perf_counter() - t0
            losses.append(float(np.mean(curve[-20:])))
            errs.append(tempo_errors(unet, asked, run, seed=seed + 1))
            free.append(tempo_errors(unet, asked, run, seed=seed + 1, with_controls=False))
        e, f = np.concatenate(errs), np.concatenate(free)
        rows[name] = {
            "within_4pct": float((e <= 0.04).mean()),
            "within_8pct": float((e <= 0.08).mean()),
            "median_error": float(np.median(e)),
            "absent_within_4pct": float((f <= 0.04).mean()),
            "final_loss": float(np.mean(losses)),
            "train_seconds": secs / len(args.seeds),
        }
    print(f"toy clicks, {args.steps} steps, seeds {args.seeds}, {len(asked)} asked tempi each")
    print(f"{'path':<16}{'<=4%':>7}{'<=8%':>7}{'median':>9}{'absent<=4%':>12}{'loss':>8}{'s':>7}")
    for name, r in rows.items():
        print(
            f"{name:<16}{r['within_4pct']:>7.2f}{r['within_8pct']:>7.2f}"
            f"{r['median_error']:>9.3f}{r['absent_within_4pct']:>12.2f}"
            f"{r['final_loss']:>8.3f}{r['train_seconds']:>7.1f}"
        )
    out = {"steps": args.steps, "seeds": args.seeds, "asked": asked, "paths": rows}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()

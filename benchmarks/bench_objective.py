"""Rectified flow against v-prediction at equal training compute: train, sample, FAD-musicnn.

Usage::

    nice python benchmarks/bench_objective.py --cache CACHE --corpus CORPUS --out RUNS \\
        --train-steps 800 --parallel --json RUNS/objective.json

``CORPUS`` is a corpus directory (``metadata.jsonl`` with a test split, ``test_prompts.jsonl``),
``CACHE`` its latent cache from ``jen1 data encode CORPUS --autoencoder jen1/assets/default``.

Two U-Nets of one config (``small`` with a narrower U-Net, see ``UNET``), the same seed, the
same latent cache and the same number of optimiser steps are trained by ``jen1 train
diffusion``: one with today's default (v-prediction, cosine schedule, uniform t), one with
rectified flow (velocity prediction, ``x_t = (1 - t) z + t eps``, logit-normal t). Each run is
exported, then both generate the same prompts (the corpus's test prompts, cycled) with the same
seeds, with each sampler at each step count, and FAD-musicnn is measured against the corpus's
test split. A run directory that already holds the final checkpoint is not trained again, so
a second invocation with other ``--samplers`` or ``--sample-steps`` reuses the two models.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's jen1, as in the training subprocesses

# the U-Net both runs share: ~5.8M parameters, small enough for a CPU budget
UNET = [
    "unet.channels=[64, 128, 192]",
    "unet.head_dim=32",
    "unet.time_dim=128",
    "unet.cross_attn_dim=128",
]
OBJECTIVES: dict[str, list[str]] = {
    "v": [],  # today's defaults: objective v, schedule cosine, train_t uniform
    "flow": [
        "diffusion.objective=flow",
        "diffusion.schedule=flow",
        "diffusion.train_t=logit_normal",
    ],
}


def _jen1(args: list[str], threads: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "jen1.cli", "--threads", str(threads), *args]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")


def train_and_export(name: str, a: argparse.Namespace) -> dict[str, Any]:
    """Train (or find trained) and export one objective; returns its settings and wall time."""
    from jen1.train.loop import latest_checkpoint, load_training_checkpoint

    run, model = a.out / f"run-{name}", a.out / f"model-{name}"
    overrides = [
        *UNET,
        *OBJECTIVES[name],
        f"train_diffusion.batch_size={a.batch}",
        f"train_diffusion.segment_seconds={a.segment_seconds}",
        f"train_diffusion.lr={a.lr}",
        f"train_diffusion.max_steps={a.train_steps}",
        "train_diffusion.warmup_steps=100",
        "train_diffusion.ema_decay=0.995",
        f"train_diffusion.ckpt_every={max(a.train_steps // 3, 1)}",
        f"train_diffusion.seed={a.seed}",
        "sampling.seconds=" + str(a.seconds),
    ]
    record = run / "bench_train.json"
    ckpt = latest_checkpoint(run) if run.exists() else None
    done = ckpt is not None and load_training_checkpoint(ckpt)["step"] >= a.train_steps
    if done and record.exists() and json.loads(record.read_text())["overrides"] != overrides:
        sys.exit(f"{run} was trained with other settings: use another --out")
    if not done:
        t0 = time.perf_counter()
        args = ["train", "diffusion", "--config", "small", "--data", str(a.cache)]
        args += ["--out", str(run), "--max-steps", str(a.train_steps), "--no-progress"]
        args += ["--resume"] if ckpt is not None else []
        for o in overrides:
            args += ["--set", o]
        _jen1(args, a.threads)
        wall = time.perf_counter() - t0
        prev = json.loads(record.read_text())["train_wall_s"] if record.exists() else 0.0
        record.write_text(json.dumps({"train_wall_s": prev + wall, "overrides": overrides}))
    _jen1(["export", str(run), str(model), "--overwrite"], a.threads)
    info = json.loads(record.read_text()) if record.exists() else {}
    return {"run": str(run), "model": str(model), "overrides": overrides, **info}


def evaluate(models: dict[str, str], a: argparse.Namespace) -> dict[str, Any]:
    """FAD-musicnn of every (objective, sampler, steps) against the corpus test split."""
    from jen1.eval.autoencoder import reconstruct
    from jen1.eval.fad import fad_musicnn, split_half_fad
    from jen1.eval.generation import read_prompts, read_reference
    from jen1.eval.musicnn import MusicnnMTT
    from jen1.pipeline import Pipeline
    from jen1.audio import load_audio

    tagger = MusicnnMTT.from_package()
    prompts = [p.text for p in read_prompts(a.corpus / "test_prompts.jsonl")]
    prompts = [prompts[i % len(prompts)] for i in range(a.n)]
    refs = read_reference(a.corpus, "test")

    def embed(wav: np.ndarray) -> np.ndarray:
        return tagger.embed(wav[None], 48000, hop_seconds=a.fad_hop)["penultimate"][0]

    pipes = {name: Pipeline.from_pretrained(path) for name, path in models.items()}
    ref_wavs = [load_audio(c.path) for c in refs]
    ref_feats = [embed(w) for w in ref_wavs]
    ae = next(iter(pipes.values())).autoencoder
    recon = [embed(reconstruct(ae, torch.from_numpy(w)[None])[0].numpy()) for w in ref_wavs]
    out: dict[str, Any] = {
        "reference": f"{a.corpus.name}/test ({len(refs)} clips)",
        "floor_split_half": split_half_fad(ref_feats)["value"],
        "ceiling_reconstruction": fad_musicnn(recon, ref_feats)["value"],
        "rows": [],
    }
    for sampler in a.samplers:
        for steps in a.sample_steps:
            for name, pipe in pipes.items():
                feats, t0 = [], time.perf_counter()
                for k, b0 in enumerate(range(0, a.n, a.gen_batch)):
                    wav = pipe.generate(
                        prompts[b0 : b0 + a.gen_batch],
                        a.seconds,
                        steps=steps,
                        cfg_scale=a.cfg,
                        sampler=sampler,
                        seed=a.gen_seed + k,
                    )
                    feats += [embed(w) for w in wav.float().numpy()]
                fad = fad_musicnn(feats, ref_feats)
                row = {
                    "objective": name,
                    "sampler": sampler,
                    "steps": steps,
                    "fad": fad["value"],
                    "n_gen_patches": fad["n_gen"],
                    "n_ref_patches": fad["n_ref"],
                    "sample_wall_s": time.perf_counter() - t0,
                }
                out["rows"].append(row)
                print(json.dumps(row), flush=True)
    return out


def table(result: dict[str, Any]) -> str:
    names = list(result["train"])
    lines = ["| sampler | steps | " + " | ".join(f"FAD {n}" for n in names) + " |"]
    lines.append("|---|---|" + "---|" * len(names))
    rows = result["eval"]["rows"]
    for sampler in result["args"]["samplers"]:
        for steps in result["args"]["sample_steps"]:
            fads = {
                r["objective"]: r["fad"]
                for r in rows
                if (r["sampler"], r["steps"]) == (sampler, steps)
            }
            lines.append(
                f"| {sampler} | {steps} | " + " | ".join(f"{fads[n]:.2f}" for n in names) + " |"
            )
    e = result["eval"]
    lines.append(
        f"\nreference {e['reference']}: floor (split-half) {e['floor_split_half']:.2f}, "
        f"autoencoder reconstruction {e['ceiling_reconstruction']:.2f}"
    )
    for n, t in result["train"].items():
        if "train_wall_s" in t:
            lines.append(f"{n}: {result['args']['train_steps']} steps in {t['train_wall_s']:.0f} s")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, required=True, help="latent cache (jen1 data encode)")
    p.add_argument("--corpus", type=Path, required=True, help="its corpus (test split, prompts)")
    p.add_argument("--out", type=Path, required=True, help="run and model directories go here")
    p.add_argument("--train-steps", type=int, default=800)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--segment-seconds", type=float, default=5.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gen-seed", type=int, default=None, help="batch k: seed + k (default --seed)")
    p.add_argument("--n", type=int, default=64, help="generated clips per row")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each generated clip")
    p.add_argument("--gen-batch", type=int, default=8)
    p.add_argument("--cfg", type=float, default=2.0)
    p.add_argument("--samplers", nargs="+", default=["dpmpp_2m", "euler"])
    p.add_argument("--sample-steps", type=int, nargs="+", default=[25, 8])
    p.add_argument("--fad-hop", type=float, default=0.5)
    p.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--parallel", action="store_true", help="train the objectives side by side")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    a.gen_seed = a.seed if a.gen_seed is None else a.gen_seed
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    load = {"start": os.getloadavg()}
    if a.parallel:  # one process per objective, each on --threads (a busy machine's wall time)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(a.objectives)) as pool:
            futures = {name: pool.submit(train_and_export, name, a) for name in a.objectives}
            train = {name: f.result() for name, f in futures.items()}
    else:
        train = {name: train_and_export(name, a) for name in a.objectives}
    result = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "train": train,
    }
    result["eval"] = evaluate({n: t["model"] for n, t in train.items()}, a)
    load["end"] = os.getloadavg()
    result["machine"]["loadavg"] = load
    print(table(result))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

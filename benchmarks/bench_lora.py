"""LoRA against a full fine-tune of the same model, on the same data, for the same steps.

Both runs start from ``--init`` (default: the shipped model) and train its U-Net on a latent
cache (``jen1 data encode``) with the library's loop (:func:`jen1.train.loop.train`): one with
LoRA adapters (``jen1 train diffusion --lora RANK``), one updating every weight. Each runs in a
fresh process so its peak memory is its own. Measured per run:

- ``step_s``: median wall time of an optimiser step (the first two left out: warm-up);
- ``peak_rss_mb``: the training process's peak resident memory (on CUDA also
  ``peak_cuda_mb``, ``torch.cuda.max_memory_allocated``);
- ``trainable``: parameters that get gradients; ``state_mb``: what training keeps per trainable
  parameter (weight gradient, two AdamW moments, the EMA copy; float32);
- ``artefact_bytes``: what ``jen1 export`` writes (the adapter file; the model's weights file);
- ``fad``: FAD-musicnn of clips generated from the held-out clips' captions (the cache's
  non-train splits, one seeded clip per caption) against those clips' audio; also for the
  base model (also with other seeds: how much FAD moves with the seeds alone), and between two
  halves of the held-out audio (its noise floor). Few clips make
  few 3 s patches, so the numbers are for comparing rows of one run.

    python benchmarks/bench_lora.py --corpus CORPUS [--held-out 0.25] [--cache LATENTS]
        [--init MODEL] [--steps 300] [--rank 8] [--batch 8] [--segment-seconds 5] [--lr-lora 1e-3]
        [--lr-full 1e-4] [--gen-steps 25] [--threads 1] [--work DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def train_one(args: argparse.Namespace) -> dict[str, Any]:
    """One training run in this process (``--train-one lora|full``) -> its measurements."""
    import torch

    from jen1.config import load_config
    from jen1.diffusion.lora import LoRASpec
    from jen1.train.loop import RunOptions, train
    from jen1.train.stages import DiffusionStage, LoRADiffusionStage

    torch.set_num_threads(args.threads)
    lora = args.train_one == "lora"
    lr = args.lr_lora if lora else args.lr_full
    overrides = [
        f"train_diffusion.batch_size={args.batch}",
        f"train_diffusion.segment_seconds={args.segment_seconds}",
        f"train_diffusion.lr={lr}",
        f"train_diffusion.warmup_steps={max(1, args.steps // 10)}",
        f"train_diffusion.ckpt_every={args.steps}",
        "train_diffusion.log_every=10",
        f"train_diffusion.precision={args.precision}",
    ]
    cfg = load_config(str(args.init), overrides)
    run_dir = Path(args.work) / f"run-{args.train_one}"
    if lora:
        stage: Any = LoRADiffusionStage(cfg, args.cache, args.init, lora=LoRASpec(args.rank))
    else:
        stage = DiffusionStage(cfg, args.cache, args.init)
    times: list[float] = []
    step_fn = stage.training_step

    def timed(*a: Any, **k: Any) -> dict[str, float]:
        t0 = time.perf_counter()
        out = step_fn(*a, **k)
        times.append(time.perf_counter() - t0)
        return out

    stage.training_step = timed  # the loop calls the instance's attribute
    accelerator = "gpu" if args.device == "cuda" else "cpu"
    result = train(
        stage,
        RunOptions(run_dir=run_dir, max_steps=args.steps, accelerator=accelerator, progress=False),
    )
    unet = stage.modules["unet"]
    trainable = sum(p.numel() for p in unet.parameters() if p.requires_grad)
    out = {
        "method": args.train_one,
        "lr": lr,
        "steps": result["step"],
        "final_loss": result["logs"].get("loss"),
        "step_s": statistics.median(times[2:] or times),
        "trainable": trainable,
        "total_params": sum(p.numel() for p in unet.parameters()),
        "state_mb": trainable * 4 * 4 / 2**20,  # grad + 2 AdamW moments + EMA, float32
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "run_dir": str(run_dir),
    }
    if torch.cuda.is_available() and args.device == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def held_out(corpus: Path) -> list[dict[str, Any]]:
    """The corpus's clips outside the train split (captions and audio paths)."""
    rows = [json.loads(x) for x in (corpus / "metadata.jsonl").read_text().splitlines() if x]
    return [r for r in rows if r.get("split", "train") != "train"]


def resplit(corpus: Path, share: float, seed: int = 0) -> dict[str, int]:
    """Rewrite the corpus's splits: whole compositions to ``test`` until ``share`` of the clips.

    ``jen1 data synth`` holds out about a tenth by composition; a few dozen clips then leave too
    few to compare FAD on. Clips of one composition stay on one side (no leakage).
    """
    import random

    path = corpus / "metadata.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    comps = sorted({r["attributes"]["composition_id"] for r in rows})
    random.Random(seed).shuffle(comps)
    held: set[str] = set()
    for c in comps:
        if sum(r["attributes"]["composition_id"] in held for r in rows) >= share * len(rows):
            break
        held.add(c)
    for r in rows:
        r["split"] = "test" if r["attributes"]["composition_id"] in held else "train"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {s: sum(r["split"] == s for r in rows) for s in ("train", "test")}


def fad_rows(args: argparse.Namespace, models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """FAD-musicnn of each model's clips for the held-out captions against the held-out audio."""
    import numpy as np
    import torch

    from jen1.audio import load_audio
    from jen1.eval.fad import fad_musicnn, split_half_fad
    from jen1.eval.musicnn import MusicnnMTT
    from jen1.pipeline import Pipeline

    torch.set_num_threads(args.threads)
    clips = held_out(Path(args.corpus))
    tagger = MusicnnMTT.from_package()
    ref = [
        tagger.embed(load_audio(Path(args.corpus) / r["path"])[None])["penultimate"] for r in clips
    ]
    ref_emb = np.concatenate([np.asarray(e).reshape(-1, np.asarray(e).shape[-1]) for e in ref])
    out: dict[str, Any] = {"clips": len(clips)}
    if len(ref) >= 4:  # the noise floor: FAD between halves of the held-out clips themselves
        out["split_half"] = split_half_fad([np.asarray(e)[0] for e in ref])["value"]
    for name, kw in models.items():
        pipe = Pipeline.from_pretrained(
            kw.get("model", args.init), device=args.device, **kw.get("extra", {})
        )
        t0 = time.perf_counter()
        embs = []
        for i, r in enumerate(clips):
            seed = kw.get("seed", 0) + i
            wav = pipe.generate(
                r["caption"], r.get("seconds", 10.0), steps=args.gen_steps, seed=seed
            )
            e = np.asarray(tagger.embed(wav.float().cpu().numpy())["penultimate"])
            embs.append(e.reshape(-1, e.shape[-1]))
        res = fad_musicnn(np.concatenate(embs), ref_emb)
        out[name] = {
            "fad": res["value"],
            "patches": res["n_gen"],
            "gen_s": time.perf_counter() - t0,
        }
        del pipe
    return out


def _child(args: argparse.Namespace, method: str) -> dict[str, Any]:
    saved = Path(args.work) / f"run-{method}.json"
    if args.reuse and saved.exists():  # a finished run of this work folder: FAD rows only
        return json.loads(saved.read_text())
    cmd = [sys.executable, __file__, "--train-one", method, *args.argv]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{method} run failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    saved.write_text(json.dumps(result) + "\n")
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    from jen1.train.export import export_model

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) for k, v in vars(args).items() if k != "argv"}
    res: dict[str, Any] = {"args": settings, "runs": {}}
    if not (Path(args.cache) / "index.json").exists():  # encode with the base's autoencoder
        from jen1.data.latents import build_latent_cache

        if args.held_out is not None:
            res["splits"] = resplit(Path(args.corpus), args.held_out)
        from jen1.config import load_config

        text = load_config(str(args.init)).text  # the captions as the base model embeds them
        build_latent_cache(args.corpus, args.init, args.cache, text_cfg=text, progress=False)
    for method in ("lora", "full"):
        r = _child(args, method)
        out = work / f"export-{method}"
        summary = export_model(r["run_dir"], out, overwrite=True)
        f = Path(summary.get("adapter") or out / "model.safetensors")
        r["artefact"] = f.name
        r["artefact_bytes"] = f.stat().st_size
        r["export_dir"] = str(out)
        res["runs"][method] = r
    if not args.no_fad:
        models = {
            "base": {},
            "base, other seeds": {"seed": 1000},  # how far FAD moves with the seeds alone
            "lora": {"extra": {"adapter": res["runs"]["lora"]["export_dir"]}},
            "full": {"model": res["runs"]["full"]["export_dir"]},
        }
        res["fad"] = fad_rows(args, models)
    return res


def format_table(res: dict[str, Any]) -> str:
    rows = [
        "| run | trainable params | train state MB | step s | peak RSS MB | export | "
        "final loss | FAD-musicnn |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fad = res.get("fad", {})
    for name in ("base", "base, other seeds"):
        if name in fad:
            what = "base (no training)" if name == "base" else "base, seeds 1000+"
            rows.append(f"| {what} | 0 | 0 | - | - | - | - | {fad[name]['fad']:.2f} |")
    for name, r in res["runs"].items():
        f = f"{fad[name]['fad']:.2f}" if name in fad else "n/a"
        loss = f"{r['final_loss']:.4f}" if r.get("final_loss") is not None else "n/a"
        rows.append(
            f"| {name} (lr {r['lr']:g}) | {r['trainable']:,} of {r['total_params']:,} | "
            f"{r['state_mb']:.1f} | {r['step_s']:.3f} | {r['peak_rss_mb']:.0f} | "
            f"{r['artefact']} {r['artefact_bytes'] / 2**20:.2f} MiB | {loss} | {f} |"
        )
    if "split_half" in fad:
        rows.append(
            f"\nFAD-musicnn between two halves of the {fad['clips']} held-out clips (the noise "
            f"floor at half the set): {fad['split_half']:.2f}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--cache",
        default=None,
        help="latent cache (jen1 data encode); default CORPUS/latents, encoded with the --init "
        "model's autoencoder when missing",
    )
    p.add_argument(
        "--held-out",
        type=float,
        default=None,
        metavar="SHARE",
        help="before encoding a missing cache, rewrite the corpus's splits: this share of the "
        "clips (whole compositions) to test",
    )
    p.add_argument("--corpus", required=True, help="the corpus the cache was encoded from")
    p.add_argument("--init", default=str(ROOT / "jen1" / "assets" / "default"))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--segment-seconds", type=float, default=5.0)
    p.add_argument("--lr-lora", type=float, default=1e-3)
    p.add_argument("--lr-full", type=float, default=1e-4)
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--gen-steps", type=int, default=25, help="sampler steps for the FAD clips")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-fad", action="store_true", help="skip generation and FAD")
    p.add_argument("--work", default="bench-lora-work", help="runs and exports go here")
    p.add_argument(
        "--reuse", action="store_true", help="keep the finished runs in --work; redo the FAD rows"
    )
    p.add_argument("--json", default=None)
    p.add_argument("--train-one", choices=["lora", "full"], default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the children get the same
    args.cache = args.cache or str(Path(args.corpus) / "latents")
    if args.train_one:
        r = train_one(args)
        print(json.dumps(r))
        return r
    res = run(args)
    print(format_table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()

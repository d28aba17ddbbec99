"""Remix (SDEdit) by strength: how far the output moves from the input, and towards the prompt.

For each clip of a corpus (``jen1 data synth DIR``: the styles are known) and each strength S,
remix the clip with a prompt of another style and measure, against the input clip:

- ``mel``: log-mel L1 distance (:func:`jen1.autoencoder.losses.mel_distance`);
- ``musicnn``: cosine distance between the clips' musicnn embeddings (the 200-d penultimate
  layer averaged over 3 s patches, as FAD uses; :meth:`jen1.eval.musicnn.MusicnnMTT.embed`);
- ``target``: agreement of the output with the remix prompt: mean tagger probability of the
  MagnaTagATune tags the prompt asks for minus that of the other tags
  (:func:`jen1.eval.adherence.tag_agreement`, as ``jen1 eval generation`` reports it);
- ``own``: the same score for the input clip's own caption.

S = 0 is the input through the autoencoder (the floor of both distances). Prints a table,
writes JSON and a PNG of the curves.

    python benchmarks/bench_remix.py --corpus DIR [--clips 8] [--strengths 0 0.1 ...]
        [--steps N] [--model DIR] [--json PATH] [--png PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

STRENGTHS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
# prompts of clearly different styles, each naming tags the musicnn tagger knows
TARGETS = (
    "fast techno with synth and drums",
    "slow classical strings with violin and cello",
    "loud heavy metal with distorted guitars and drums",
    "soft solo piano, slow and quiet",
)


def pick_target(caption: str, k: int) -> str:
    """The target prompt sharing the fewest tags with ``caption`` (ties rotate with ``k``)."""
    from jen1.eval.adherence import prompt_tags

    own = set(prompt_tags(caption))
    order = TARGETS[k % len(TARGETS) :] + TARGETS[: k % len(TARGETS)]
    return min(order, key=lambda t: len(own & set(prompt_tags(t))))


def choose_clips(corpus: Path, n: int) -> list[dict]:
    """Up to ``n`` clips of the corpus, round-robin over styles (deterministic)."""
    rows = [json.loads(line) for line in (corpus / "metadata.jsonl").read_text().splitlines()]
    by_style: dict[str, list[dict]] = {}
    for r in rows:
        by_style.setdefault(r.get("attributes", {}).get("style", ""), []).append(r)
    chosen: list[dict] = []
    for i in range(max(len(v) for v in by_style.values())):
        for s in sorted(by_style):
            if i < len(by_style[s]) and len(chosen) < n:
                chosen.append(by_style[s][i])
    return chosen


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def run(args: argparse.Namespace) -> dict:
    import torch

    from jen1.audio import load_audio
    from jen1.autoencoder.losses import mel_distance
    from jen1.eval.adherence import tag_agreement
    from jen1.eval.musicnn import MusicnnMTT
    from jen1.pipeline import Pipeline

    t0 = time.perf_counter()
    pipe = Pipeline.from_pretrained(args.model)
    tagger = MusicnnMTT.from_package()
    steps = args.steps or pipe.cfg.sampling.steps
    clips = choose_clips(args.corpus, args.clips)
    length = round(args.seconds * pipe.sample_rate)
    per: dict[float, list[dict]] = {s: [] for s in args.strengths}
    for k, clip in enumerate(clips):
        wav = torch.from_numpy(load_audio(args.corpus / clip["path"]))[:, :length]
        target = pick_target(clip["caption"], k)
        ref = tagger.embed(wav[None].numpy())
        ref_emb = ref["penultimate"][0].mean(0)
        for s in args.strengths:
            out = pipe.remix(wav, target, s, steps=steps, seed=args.seed + k)
            emb = tagger.embed(out.numpy())
            tags = emb["tags"]
            names = list(emb["tag_names"])
            per[s].append(
                {
                    "clip": clip["path"],
                    "style": clip.get("attributes", {}).get("style"),
                    "prompt": target,
                    "mel": float(mel_distance(wav[None], out)[0]),
                    "musicnn": _cosine_distance(ref_emb, emb["penultimate"][0].mean(0)),
                    "target": tag_agreement(tags, [target], names).get("difference"),
                    "own": tag_agreement(tags, [clip["caption"]], names).get("difference"),
                }
            )
        print(f"clip {k + 1}/{len(clips)} ({clip['path']}) done", flush=True)
    rows = []
    for s in args.strengths:

        def mean(key: str, s: float = s) -> float | None:
            vals = [r[key] for r in per[s] if r[key] is not None]
            return float(np.mean(vals)) if vals else None

        rows.append(
            {
                "strength": s,
                "steps_run": int(np.ceil(steps * s - 1e-9)) if s > 0 else 0,
                **{key: mean(key) for key in ("mel", "musicnn", "target", "own")},
            }
        )
    return {
        "model": str(args.model or "shipped default"),
        "corpus": str(args.corpus),
        "clips": len(clips),
        "seconds": args.seconds,
        "steps": steps,
        "cfg_scale": pipe.cfg.sampling.cfg_scale,
        "sampler": pipe.cfg.sampling.sampler,
        "rows": rows,
        "per_clip": {str(s): v for s, v in per.items()},
        "wall_s": time.perf_counter() - t0,
    }


def format_table(res: dict) -> str:
    lines = [
        f"remix on {res['clips']} clips of {res['seconds']:g} s, {res['steps']} steps "
        f"{res['sampler']} (a remix runs ceil(steps * S)), cfg {res['cfg_scale']:g}",
        "| S | steps | mel dist to input | musicnn dist to input | target-prompt agreement "
        "| own-caption agreement |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        cells = [f"{r[k]:.3f}" if r[k] is not None else "n/a" for k in ("mel", "musicnn")]
        cells += [f"{r[k]:+.3f}" if r[k] is not None else "n/a" for k in ("target", "own")]
        lines.append(f"| {r['strength']:g} | {r['steps_run']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = [r["strength"] for r in res["rows"]]
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.8), dpi=80)
    ax = axes[0]
    ax.plot(s, [r["mel"] for r in res["rows"]], "o-", label="log-mel")
    ax2 = ax.twinx()
    ax2.plot(s, [r["musicnn"] for r in res["rows"]], "s--", color="C1", label="musicnn (cos)")
    ax.set_xlabel("strength S")
    ax.set_ylabel("log-mel distance", color="C0")
    ax2.set_ylabel("musicnn distance", color="C1")
    ax.set_title("distance to the input", fontsize=10)
    ax = axes[1]
    ax.plot(s, [r["target"] for r in res["rows"]], "o-", color="C2", label="remix prompt")
    ax.plot(s, [r["own"] for r in res["rows"]], "s--", color="C3", label="input's caption")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("strength S")
    ax.set_ylabel("tag agreement")
    ax.set_title("agreement with a prompt", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, required=True, help="a corpus with metadata.jsonl")
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of each clip used")
    p.add_argument("--strengths", type=float, nargs="+", default=list(STRENGTHS))
    p.add_argument("--steps", type=int, default=None, help="a whole run's steps (model default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--png", type=Path, default=None)
    args = p.parse_args(argv)
    res = run(args)
    print(format_table(res))
    print(f"{res['wall_s']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1))
    if args.png:
        plot(res, args.png)
    return res


if __name__ == "__main__":
    main()

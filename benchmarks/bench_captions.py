"""How right are `jen1 data caption`'s captions? Measured on a synthetic corpus, where the truth
(tempo, key, mode, instruments) is in the metadata.

    python benchmarks/bench_captions.py --clips 150 --seed 0 --json captions.json
    python benchmarks/bench_captions.py --data CORPUS_DIR          # an existing `jen1 data synth`
    python benchmarks/bench_captions.py --data CORPUS_DIR --tune   # per-family thresholds (F1)

The corpus's ``audio/`` folder (no captions there) is captioned with the library's
``caption_folder`` into a temporary metadata file, then each row is compared with the truth:
tempo within 4% and 8% (and octave errors), key exact / close (exact, fifth, relative) / MIREX
score and mode, and instrument-family precision and recall (families the MTT tags can name;
bass and brass have no tag and are counted apart). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from jen1.data.autocaption import FAMILY_TAGS, FAMILY_THRESHOLDS, detect_families, instrument_family
from jen1.data.caption_folder import caption_folder
from jen1.data.metadata import read_metadata
from jen1.eval.music import MIREX_KEY_WEIGHTS, key_relation, normalize_key, tempo_outcome


def compare(truth: dict[str, Any], attrs: dict[str, Any], caption: str) -> dict[str, Any]:
    """One clip: the estimated attributes against the corpus's true ones."""
    true_fam = {instrument_family(i) for i in truth.get("instruments", [])} - {None}
    bpm = float(truth["bpm"])
    return {
        "source": "music21" if str(truth.get("source", "")).startswith("music21") else "composer",
        "bpm": bpm,
        "bpm_est": attrs["bpm"],
        "err": abs(attrs["bpm"] - bpm) / bpm,
        "tempo": tempo_outcome(attrs["bpm"], bpm),
        "key": key_relation(
            (attrs["key"], attrs["mode"]), (normalize_key(truth["key"]), truth["mode"])
        ),
        "mode_ok": attrs["mode"] == truth["mode"],
        "key_said": f"{attrs['key']} {attrs['mode']}" in caption,
        "key_correlation": attrs["key_correlation"],
        "true_families": sorted(true_fam),
        "family_scores": attrs["family_scores"],
    }


def family_table(rows: list[dict[str, Any]], thresholds: dict[str, float]) -> dict[str, Any]:
    """Per-family precision / recall / F1 (and micro averages) at ``thresholds``."""
    out: dict[str, Any] = {}
    tp_all = fp_all = fn_all = 0
    for fam in FAMILY_TAGS:
        tp = fp = fn = 0
        for r in rows:
            pred = fam in detect_families(r["family_scores"], thresholds)
            true = fam in r["true_families"]
            tp, fp, fn = tp + (pred and true), fp + (pred and not true), fn + (true and not pred)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        p = tp / (tp + fp) if tp + fp else None
        rc = tp / (tp + fn) if tp + fn else None
        f1 = 2 * p * rc / (p + rc) if p and rc else 0.0
        out[fam] = {
            "support": tp + fn,
            "predicted": tp + fp,
            "precision": p,
            "recall": rc,
            "f1": f1,
        }
    p = tp_all / max(tp_all + fp_all, 1)
    rc = tp_all / max(tp_all + fn_all, 1)
    out["micro"] = {
        "support": tp_all + fn_all,
        "predicted": tp_all + fp_all,
        "precision": p,
        "recall": rc,
        "f1": 2 * p * rc / (p + rc) if p + rc else 0.0,
    }
    return out


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    rel = [r["key"] for r in rows]
    close = [x in ("exact", "fifth", "relative") for x in rel]
    said = [r for r, c in zip(rows, close) if r["key_said"]]
    untagged = {"bass", "brass"}
    return {
        "clips": n,
        "tempo": {
            "within_4pct": float(np.mean([r["err"] <= 0.04 for r in rows])),
            "within_8pct": float(np.mean([r["err"] <= 0.08 for r in rows])),
            "octave_errors": float(np.mean([r["tempo"] == "octave" for r in rows])),
            "median_error_pct": 100 * float(np.median([r["err"] for r in rows])),
        },
        "key": {
            "exact": rel.count("exact") / n,
            "close": float(np.mean(close)),
            "mirex": float(np.mean([MIREX_KEY_WEIGHTS[x] for x in rel])),
            "mode": float(np.mean([r["mode_ok"] for r in rows])),
            "said_in_caption": len(said) / n,
            "close_when_said": (
                float(np.mean([r["key"] in ("exact", "fifth", "relative") for r in said]))
                if said
                else None
            ),
        },
        "tempo_within_4pct_by_source": {
            src: float(np.mean([r["err"] <= 0.04 for r in rows if r["source"] == src]))
            for src in sorted({r["source"] for r in rows})
        },
        "families": family_table(rows, FAMILY_THRESHOLDS),
        "clips_with_untagged_families": {
            f: sum(f in r["true_families"] for r in rows) / n for f in sorted(untagged)
        },
    }


def tune(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The threshold of each family with the best F1 on ``rows`` (grid 0.01 .. 0.6)."""
    best = {}
    for fam in FAMILY_TAGS:
        scores = []
        for th in np.arange(0.01, 0.601, 0.01):
            t = dict(FAMILY_THRESHOLDS, **{fam: float(th)})
            scores.append((family_table(rows, t)[fam]["f1"], -th, float(th)))
        best[fam] = round(max(scores)[2], 3)
    return best


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{100 * x:5.1f}"


def print_table(s: dict[str, Any]) -> None:
    t, k = s["tempo"], s["key"]
    print(f"clips: {s['clips']}")
    print("| measure | value |\n|---|---|")
    print(f"| tempo within 4% | {_fmt(t['within_4pct'])}% |")
    print(f"| tempo within 8% | {_fmt(t['within_8pct'])}% |")
    print(f"| tempo octave errors | {_fmt(t['octave_errors'])}% |")
    print(f"| tempo median error | {t['median_error_pct']:.1f}% |")
    for src, v in s["tempo_within_4pct_by_source"].items():
        print(f"| tempo within 4%, {src} clips | {_fmt(v)}% |")
    print(f"| key exact | {_fmt(k['exact'])}% |")
    print(f"| key close (exact, fifth, relative) | {_fmt(k['close'])}% |")
    print(f"| key MIREX score | {_fmt(k['mirex'])}% |")
    print(f"| mode | {_fmt(k['mode'])}% |")
    print(f"| key named in the caption | {_fmt(k['said_in_caption'])}% |")
    print(f"| key close, where named | {_fmt(k['close_when_said'])}% |")
    print("\n| family | clips with it | predicted | precision | recall | F1 |")
    print("|---|---|---|---|---|---|")
    for fam, v in s["families"].items():
        print(
            f"| {fam} | {v['support']} | {v['predicted']} | {_fmt(v['precision'])}% | "
            f"{_fmt(v['recall'])}% | {_fmt(v['f1'])}% |"
        )
    untagged = ", ".join(
        f"{f} {100 * v:.0f}%" for f, v in s["clips_with_untagged_families"].items()
    )
    print(f"\nclips with families no MTT tag names (never predicted): {untagged}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="an existing `jen1 data synth` corpus")
    src.add_argument("--clips", type=int, help="synthesise a corpus of this many clips")
    ap.add_argument("--seed", type=int, default=0, help="corpus seed (with --clips)")
    ap.add_argument("--seconds", type=float, default=10.0, help="clip length (with --clips)")
    ap.add_argument("--soundfont", type=Path, default=None, help="with --clips")
    ap.add_argument("--tune", action="store_true", help="print the best per-family thresholds")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            from jen1.synth.render import DEFAULT_SOUNDFONT
            from jen1.synth.corpus import synthesize_corpus

            data = Path(tmp) / "corpus"
            synthesize_corpus(
                data,
                clips=args.clips,
                seconds=args.seconds,
                seed=args.seed,
                soundfont=args.soundfont or DEFAULT_SOUNDFONT,
                progress=args.progress,
            )
        truth = {r["path"]: r for r in read_metadata(data / "metadata.jsonl")}
        out = Path(tmp) / "captions.jsonl"
        caption_folder(data / "audio", out, progress=args.progress)
        rows = []
        for line in out.read_text().splitlines():
            row = json.loads(line)
            rec = truth[f"audio/{row['path']}"]
            rows.append(compare(rec["attributes"], row["attributes"], row["caption"]))
    summary = summarize(rows)
    summary["data"] = (
        str(args.data) if args.data else f"synth --clips {args.clips} --seed {args.seed}"
    )
    summary["thresholds"] = dict(FAMILY_THRESHOLDS)
    print_table(summary)
    if args.tune:
        summary["tuned_thresholds"] = tune(rows)
        print(f"\nbest F1 thresholds on this corpus: {summary['tuned_thresholds']}")
    if args.json:
        args.json.write_text(json.dumps({**summary, "rows": rows}, indent=2))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])

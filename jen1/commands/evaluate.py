"""``jen1 eval autoencoder``: reconstruction metrics on held-out clips."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = sub.add_parser("eval", help="evaluate a model", formatter_class=fmt)
    which = p.add_subparsers(dest="what", metavar="WHAT")
    a = which.add_parser("autoencoder", help="SI-SDR, MR-STFT and mel distance of reconstructions",
                         formatter_class=fmt)
    a.add_argument("--model", type=Path, default=None, help="model directory (default: shipped)")
    a.add_argument("--data", type=Path, required=True,
                   help="a corpus directory (its test split is used) or a folder of audio files")
    a.add_argument("--split", default="test")
    a.add_argument("--n", type=int, default=50, help="at most this many clips")
    a.add_argument("--seconds", type=float, default=10.0, help="crop each clip to this length")
    a.add_argument("--json", type=Path, default=None, help="write the results here")
    a.add_argument("--png", type=Path, default=None, help="spectrogram comparison (default: beside --json)")
    a.set_defaults(func=run_autoencoder)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _files(data: Path, split: str, n: int) -> list[Path]:
    from jen1.audio import AUDIO_EXTENSIONS
    from jen1.errors import Jen1Error

    if data.is_file():
        return [data]
    meta = data / "metadata.jsonl"
    if meta.exists():
        rows = [json.loads(line) for line in meta.read_text().splitlines() if line.strip()]
        files = [data / r["path"] for r in rows if r.get("split", "train") == split]
    else:
        files = sorted(p for p in data.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise Jen1Error(f"no {split} clips or audio files found in {data}")
    return files[:n]


def run_autoencoder(args: argparse.Namespace) -> int:
    from jen1.eval.autoencoder import evaluate_autoencoder, format_table, write_json
    from jen1.paths import default_model_dir

    png = args.png or (args.json.with_suffix(".png") if args.json else None)
    result = evaluate_autoencoder(args.model or default_model_dir(), _files(args.data, args.split, args.n),
                                  seconds=args.seconds, png=png)
    print(format_table(result))
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}" + (f" and {png}" if png else ""))
    return 0

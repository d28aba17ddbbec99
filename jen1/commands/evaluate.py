"""``jen1 eval autoencoder``: reconstruction metrics on held-out clips; ``jen1 eval generation``:
FAD-musicnn and prompt adherence of generated clips; ``jen1 eval tasks``: tempo, key and splices
of continuations and inpaintings of real tracks."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = sub.add_parser("eval", help="evaluate a model", formatter_class=fmt)
    which = p.add_subparsers(dest="what", metavar="WHAT")
    a = which.add_parser(
        "autoencoder",
        help="SI-SDR, MR-STFT and mel distance of reconstructions",
        formatter_class=fmt,
    )
    a.add_argument("--model", type=Path, default=None, help="model directory (default: shipped)")
    a.add_argument(
        "--data",
        type=Path,
        required=True,
        help="a corpus directory (its test split is used) or a folder of audio files",
    )
    a.add_argument("--split", default="test")
    a.add_argument(
        "--n", type=int, default=50, help="at most this many clips, evenly spaced over the split"
    )
    a.add_argument("--seconds", type=float, default=10.0, help="crop each clip to this length")
    a.add_argument("--json", type=Path, default=None, help="write the results here")
    a.add_argument(
        "--png", type=Path, default=None, help="spectrogram comparison (default: beside --json)"
    )
    a.add_argument(
        "--opus",
        type=float,
        nargs="*",
        default=[6.0, 12.0, 24.0],
        metavar="KBPS",
        help="Opus reference rows at these bitrates, same clips (ffmpeg); --opus alone: none",
    )
    a.add_argument(
        "--fad",
        action="store_true",
        help="also FAD-musicnn between the clips and their reconstructions (and Opus's)",
    )
    a.set_defaults(func=run_autoencoder)
    _add_generation(which, fmt)
    _add_tasks(which, fmt)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _files(data: Path, split: str, n: int) -> list[Path]:
    from jen1.audio import AUDIO_EXTENSIONS
    from jen1.errors import Jen1Error

    if data.is_file():
        return [data]
    meta = data / "metadata.jsonl"
    if meta.exists():
        from jen1.data.metadata import read_metadata

        rows = read_metadata(meta)
        files = [data / r["path"] for r in rows if r.get("split", "train") == split]
    else:
        files = sorted(p for p in data.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise Jen1Error(f"no {split} clips or audio files found in {data}")
    if len(files) > n > 0:  # evenly spaced: a corpus lists its clips by source, in order
        files = [files[i * len(files) // n] for i in range(n)]
    return files[:n]


def run_autoencoder(args: argparse.Namespace) -> int:
    from jen1.eval.autoencoder import evaluate_autoencoder, format_table, write_json
    from jen1.paths import default_model_dir

    png = args.png or (args.json.with_suffix(".png") if args.json else None)
    result = evaluate_autoencoder(
        args.model or default_model_dir(),
        _files(args.data, args.split, args.n),
        seconds=args.seconds,
        png=png,
        opus=tuple(args.opus),
        fad=args.fad,
    )
    print(format_table(result))
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}" + (f" and {png}" if png else ""))
    return 0


def _add_generation(which: argparse._SubParsersAction, fmt: type) -> None:
    g = which.add_parser(
        "generation",
        formatter_class=fmt,
        help="FAD-musicnn, tag agreement and attribute adherence of generated clips",
    )
    g.add_argument("--model", type=Path, default=None, help="model directory (default: shipped)")
    g.add_argument(
        "--prompts",
        type=Path,
        required=True,
        help="text file (one prompt a line) or a corpus test_prompts.jsonl",
    )
    g.add_argument(
        "--reference",
        type=Path,
        required=True,
        help="a corpus directory (its --split clips are the reference) or a folder of audio",
    )
    g.add_argument("--reference2", type=Path, default=None, help="a second reference set")
    g.add_argument("--split", default="test", help="corpus split used as the reference")
    g.add_argument("--n", type=int, default=50, help="number of clips to generate")
    g.add_argument("--seconds", type=float, default=10.0, help="length of each clip")
    g.add_argument("--batch", type=int, default=4, help="clips generated at once")
    g.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    g.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the model's)")
    g.add_argument("--seed", type=int, default=0, help="batch k uses seed + k")
    g.add_argument(
        "--controls",
        choices=("text", "explicit", "both"),
        default="text",
        help="text: prompts only; explicit: also each prompt's tempo/key/meter as controls; "
        "both: report the two side by side (a model trained with unet.controls)",
    )
    g.add_argument(
        "--reconstruct",
        action="store_true",
        help="also FAD of the autoencoder's reconstructions of the reference (ceiling)",
    )
    g.add_argument(
        "--style-train",
        type=int,
        default=200,
        help="corpus train clips for the style classifier (0: no style metric)",
    )
    g.add_argument(
        "--fad-hop",
        type=float,
        default=1.0,
        help="hop of the 3 s musicnn patches in seconds (0: no overlap)",
    )
    g.add_argument("--json", type=Path, default=None, help="write the results here")
    g.add_argument("--out", type=Path, default=None, help="folder for spectrogram and metric PNGs")
    g.add_argument(
        "--save-audio", action="store_true", help="also write the clips into --out/audio"
    )
    g.add_argument("--no-progress", dest="progress", action="store_false")
    g.set_defaults(func=run_generation)


def run_generation(args: argparse.Namespace) -> int:
    from jen1.eval.generation import evaluate_generation
    from jen1.eval.musicnn import find_checkpoint

    find_checkpoint()  # musicnn's weights are needed at the end: say so before generating
    from jen1.eval.report import format_table, write_json

    result = evaluate_generation(
        args.model,
        args.prompts,
        args.reference,
        n=args.n,
        seconds=args.seconds,
        batch=args.batch,
        steps=args.steps,
        cfg_scale=args.cfg,
        seed=args.seed,
        reference2=args.reference2,
        split=args.split,
        reconstruct=args.reconstruct,
        style_train=args.style_train,
        fad_hop=args.fad_hop or None,
        out_dir=args.out,
        save_audio=args.save_audio,
        progress=args.progress,
        controls=args.controls,
    )
    print(format_table(result))
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    if args.out:
        print(f"wrote {args.out}/spectrograms.png and {args.out}/metrics.png")
    return 0


def _add_tasks(which: argparse._SubParsersAction, fmt: type) -> None:
    t = which.add_parser(
        "tasks",
        formatter_class=fmt,
        help="do continuation and inpainting keep a track's tempo and key, with smooth joins",
    )
    t.add_argument("--model", type=Path, default=None, help="model directory (default: shipped)")
    t.add_argument(
        "--data", type=Path, required=True, help="a corpus directory (e.g. jen1 data real's)"
    )
    t.add_argument("--split", default="test")
    t.add_argument(
        "--n", type=int, default=24, help="tracks, evenly spaced over the split (0: all)"
    )
    t.add_argument("--context", type=float, default=10.0, help="seconds of track to continue")
    t.add_argument("--seconds", type=float, default=10.0, help="seconds to continue by")
    t.add_argument(
        "--gap", type=float, default=6.0, help="seconds inpainted in the middle of the track"
    )
    t.add_argument(
        "--prompts",
        choices=("none", "caption"),
        default="none",
        help="none: the audio alone; caption: also the corpus caption of the track's start",
    )
    t.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    t.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the model's)")
    t.add_argument("--seed", type=int, default=0, help="track k uses seed + k")
    t.add_argument("--json", type=Path, default=None, help="write the results here")
    t.add_argument("--out", type=Path, default=None, help="folder for tasks.png (and audio)")
    t.add_argument("--save-audio", action="store_true", help="also write --out/audio/*.wav")
    t.add_argument("--no-progress", dest="progress", action="store_false")
    t.set_defaults(func=run_tasks)


def run_tasks(args: argparse.Namespace) -> int:
    from jen1.eval.report import write_json
    from jen1.eval.tasks import evaluate_tasks, format_table

    result = evaluate_tasks(
        args.model,
        args.data,
        split=args.split,
        n=args.n,
        context=args.context,
        seconds=args.seconds,
        gap=args.gap,
        prompts=args.prompts,
        steps=args.steps,
        cfg_scale=args.cfg,
        seed=args.seed,
        out_dir=args.out,
        save_audio=args.save_audio,
        progress=args.progress,
    )
    print(format_table(result))
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    if args.out:
        print(f"wrote {args.out}/tasks.png")
    return 0

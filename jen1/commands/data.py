"""``jen1 data``: build training folders (``synth``: a rendered corpus; ``prepare``: your music)."""

from __future__ import annotations

import argparse
import functools
import math
from pathlib import Path

from jen1.synth.render import DEFAULT_SOUNDFONT


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="build training data: synthesise a corpus or prepare a folder of your music",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", parser_class=type(p))
    p.set_defaults(func=functools.partial(_print_help, p))

    s = data_sub.add_parser(
        "synth",
        help="render a captioned corpus (composed + music21 pieces, GM soundfont)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    s.add_argument(
        "out_dir", type=Path, metavar="OUT_DIR", help="output folder (re-runs skip finished clips)"
    )
    size = s.add_mutually_exclusive_group(required=True)
    size.add_argument("--clips", type=int, help="number of clips")
    size.add_argument("--hours", type=float, help="hours of audio (clips = hours * 3600 / seconds)")
    s.add_argument("--seconds", type=float, default=10.0, help="length of each clip")
    s.add_argument("--seed", type=int, default=0, help="corpus seed (same seed, same corpus)")
    s.add_argument("--workers", type=int, default=1, help="rendering processes")
    s.add_argument(
        "--soundfont",
        type=Path,
        default=DEFAULT_SOUNDFONT,
        help="SF2 soundfont (TimGM6mb.sf2 is smaller and faster; FluidR3_GM sounds better)",
    )
    s.add_argument(
        "--music21-share",
        type=float,
        default=0.25,
        help="share of clips from real music21 compositions (0 disables)",
    )
    s.add_argument(
        "--drum-kit",
        type=Path,
        action="append",
        default=None,
        metavar="SF2",
        help="a drum-kit SoundFont to draw from per clip, beside the GM font's own (repeat it; "
        "real kits: /usr/share/sounds/sf2/{Black_Pearl,Red_Zeppelin}_4_LV2.sf2)",
    )
    s.add_argument(
        "--vary-mix",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="random stereo width and spectral tilt per clip",
    )
    s.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar"
    )
    s.set_defaults(func=run_synth)

    r = data_sub.add_parser(
        "prepare",
        help="segment and caption a folder of audio files (sidecar .txt or metadata.jsonl/.csv)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    r.add_argument(
        "src_dir", type=Path, metavar="SRC_DIR", help="folder of audio files (searched recursively)"
    )
    r.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="output folder")
    r.add_argument("--segment-seconds", type=float, default=10.0, help="segment length")
    r.add_argument(
        "--hop-seconds",
        type=float,
        default=None,
        help="hop between segments (default: %(default)s, i.e. the segment length)",
    )
    r.add_argument("--default-caption", default=None, help="caption for files that have none")
    r.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar"
    )
    r.set_defaults(func=run_prepare)

    # `jen1 data encode` (latent cache), `caption`, `real` and `mix` live in their own modules.
    from jen1.commands import data_caption, data_encode, data_real

    data_encode.register(data_sub)
    data_caption.register(data_sub)
    data_real.register(data_sub)


def _print_help(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    parser.print_help()
    return 2


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:.1f} MiB" if num_bytes < 2**30 else f"{num_bytes / 2**30:.2f} GiB"


def run_synth(args: argparse.Namespace) -> int:
    from jen1.synth.corpus import synthesize_corpus
    from jen1.errors import Jen1Error
    from jen1.optional import require

    require("tinysoundfont", "jen1 data synth")  # before any work

    if args.hours is not None:
        if not (args.hours > 0 and math.isfinite(args.hours)):
            raise Jen1Error("--hours must be positive")
        clips = math.ceil(args.hours * 3600 / args.seconds)
    else:
        clips = args.clips
    if clips is None or clips <= 0:
        raise Jen1Error("--clips must be positive")
    if not 0 <= args.music21_share <= 1:
        raise Jen1Error("--music21-share must be between 0 and 1")
    s = synthesize_corpus(
        args.out_dir,
        clips=clips,
        seconds=args.seconds,
        seed=args.seed,
        workers=args.workers,
        soundfont=args.soundfont,
        progress=args.progress,
        music21_share=args.music21_share,
        drum_kits=tuple(args.drum_kit or ()),
        vary=args.vary_mix,
    )
    splits = ", ".join(f"{k} {v}" for k, v in s.splits.items())
    print(
        f"{s.out_dir}: {s.clips} clips ({s.hours:.2f} h, {_size(s.disk_bytes)}; {splits}; "
        f"{s.music21} from music21)"
    )
    speed = f", {s.speed:.0f}x real time" if s.rendered else ""
    print(
        f"rendered {s.rendered}, kept {s.reused} from an earlier run, failed {s.failed}; "
        f"{s.wall_seconds:.1f} s wall{speed}"
    )
    for e in s.errors[:10]:
        print(f"warning: {e}")
    return 1 if s.failed else 0


def run_prepare(args: argparse.Namespace) -> int:
    from jen1.data.prepare import prepare_folder

    s = prepare_folder(
        args.src_dir,
        args.out_dir,
        segment_seconds=args.segment_seconds,
        hop_seconds=args.hop_seconds,
        default_caption=args.default_caption,
        progress=args.progress,
    )
    print(
        f"{s.out_dir}: {s.segments} segments ({s.hours:.2f} h) "
        f"from {s.files_kept} of {s.files_found} files; "
        f"{s.silent_segments} silent segments dropped; {s.wall_seconds:.1f} s"
    )
    for path, reason in s.skipped:
        print(f"skipped {path}: {reason}")
    if s.unused_captions:
        print(f"warning: {s.unused_captions} caption rows name no audio file")
    if not s.files_kept:
        from jen1.errors import Jen1Error

        first = f" ({s.skipped[0][0]}: {s.skipped[0][1]})" if s.skipped else ""
        raise Jen1Error(f"no file of {args.src_dir} was kept{first}")
    return 0

"""``jen1 data real OUT_DIR``: the real-music corpus. ``jen1 data mix OUT SRC[:N]...``: one
training folder listing several."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(data_sub: argparse._SubParsersAction) -> None:
    r = data_sub.add_parser(
        "real",
        help="build the real-music corpus from the cleared Debian packages (apt download)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    r.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="training folder to write")
    r.add_argument("--cache", type=Path, default=None,
                   help="folder for the .deb files (default: OUT_DIR-debs)")
    r.add_argument("--sources", type=Path, default=None,
                   help="folder for the extracted tracks (default: OUT_DIR-sources)")
    r.add_argument("--packages", nargs="+", default=None, metavar="PKG",
                   help="only these packages (default: all cleared ones)")
    r.add_argument("--segment-seconds", type=float, default=10.0, help="segment length")
    r.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    r.set_defaults(func=run_real)

    m = data_sub.add_parser(
        "mix",
        help="one training folder listing several (SRC:N lists SRC's train clips N times)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    m.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="mix folder to write")
    m.add_argument("sources", nargs="+", metavar="SRC[:N]", help="data folders, N = repeats")
    m.set_defaults(func=run_mix)


def run_real(args: argparse.Namespace) -> int:
    from jen1.data.real_music import PACKAGES, build_real_corpus, package_by_name

    pkgs = PACKAGES if args.packages is None else tuple(map(package_by_name, args.packages))
    summary = build_real_corpus(
        args.out_dir, cache=args.cache, src_dir=args.sources, packages=pkgs,
        segment_seconds=args.segment_seconds, progress=args.progress,
    )
    for split, s in summary.items():
        print(
            f"{split}: {s['minutes']:.1f} min, {s['tracks']} tracks from {s['packages']} packages"
        )
    return 0


def run_mix(args: argparse.Namespace) -> int:
    from jen1.data.mix import mix_folders
    from jen1.errors import Jen1Error

    sources = []
    for spec in args.sources:
        path, _, n = spec.rpartition(":") if ":" in spec else (spec, "", "1")
        try:
            sources.append((Path(path), int(n)))
        except ValueError:
            raise Jen1Error(f"'{spec}': the repeat after ':' must be an integer") from None
    print(json.dumps(mix_folders(args.out_dir, sources)))
    return 0

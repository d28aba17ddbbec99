"""``jen1 data caption DIR``: captions for a folder of audio without text."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(data_sub: argparse._SubParsersAction) -> None:
    c = data_sub.add_parser(
        "caption",
        help="write captions for a folder of uncaptioned audio (musicnn tags, tempo, key, names)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    c.add_argument(
        "src_dir", type=Path, metavar="DIR", help="folder of audio (searched recursively)"
    )
    c.add_argument(
        "--out",
        type=Path,
        default=None,
        help="metadata file to write (default: DIR/metadata.jsonl, what `jen1 data prepare` reads)",
    )
    c.add_argument(
        "--overwrite",
        action="store_true",
        help="caption files that already have a caption (sidecar .txt and CSV files are kept)",
    )
    c.add_argument(
        "--enrich",
        action="store_true",
        help="DIR is a corpus (jen1 data prepare/real): keep each caption and add what the "
        "tagger hears (instruments, tempo, confident key), the estimates becoming control "
        "labels (attributes.estimated); rows with labels of their own are left alone",
    )
    c.add_argument("--seed", type=int, default=0, help="wording seed")
    c.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    c.set_defaults(func=run_caption)


def run_caption(args: argparse.Namespace) -> int:
    from jen1.data.caption_folder import caption_folder, enrich_corpus

    if args.enrich:
        from jen1.errors import Jen1Error

        if args.out is not None or args.overwrite:
            raise Jen1Error(
                "--enrich rewrites DIR/metadata.jsonl: --out and --overwrite do not apply"
            )
        s = enrich_corpus(args.src_dir, seed=args.seed, progress=args.progress)
        print(
            f"{s.out}: enriched {s.captioned} of {s.files_found} rows, left {s.kept_existing} "
            f"(own labels or done before), {len(s.failed)} failed; {s.wall_seconds:.1f} s"
        )
        for path, reason in s.failed:
            print(f"skipped {path}: {reason}")
        return 1 if s.failed and not s.captioned else 0
    s = caption_folder(
        args.src_dir, args.out, overwrite=args.overwrite, seed=args.seed, progress=args.progress
    )
    replaced = f" ({s.replaced} replaced)" if s.replaced else ""
    print(
        f"{s.out}: captioned {s.captioned} of {s.files_found} files{replaced}, "
        f"kept {s.kept_existing} existing captions, {len(s.failed)} failed; "
        f"{s.wall_seconds:.1f} s"
    )
    if s.out.resolve() != (args.src_dir / "metadata.jsonl").resolve():
        print(f"note: `jen1 data prepare` reads {args.src_dir / 'metadata.jsonl'}, not {s.out}")
    for path, reason in s.failed:
        print(f"skipped {path}: {reason}")
    if s.kept_existing and not args.overwrite:
        print("files with a caption were left as they are (--overwrite captions them again)")
    return 1 if s.failed and not s.captioned else 0

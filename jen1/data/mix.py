"""One training folder from several: links to each and one manifest listing all their clips.

``mix_folders(OUT, [(A, 1), (B, 3)])`` makes ``OUT/src0 -> A`` and ``OUT/src1 -> B`` (symbolic
links, no audio copied) and ``OUT/metadata.jsonl`` with every clip of A and B, paths prefixed by
their link. A source's train clips are listed ``repeat`` times, which sets its share of what
training draws; val and test clips are listed once, so evaluation is not weighted. Each record's
``attributes.mix_source`` names its source folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from jen1.data.metadata import METADATA, read_metadata, write_metadata
from jen1.errors import Jen1Error


def mix_folders(out_dir: Path, sources: list[tuple[Path, int]]) -> dict[str, dict[str, int]]:
    """Write the mixed folder; returns {source: {split: records listed}}.

    Raises:
        Jen1Error: no sources, a repeat below 1, a source without a manifest, or an ``out_dir``
            that holds something other than an earlier mix.
    """
    if not sources:
        raise Jen1Error("give at least one source folder")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(
        p.name not in {METADATA, "test_prompts.jsonl"} and not p.name.startswith("src")
        for p in out_dir.iterdir()
    ):
        raise Jen1Error(f"{out_dir} exists and is not a mix folder: choose a new folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    records, counts = [], {}
    for i, (src, repeat) in enumerate(sources):
        if repeat < 1:
            raise Jen1Error(f"repeat for {src} must be at least 1, got {repeat}")
        src = Path(src).resolve()
        rows = read_metadata(src / METADATA)
        link = out_dir / f"src{i}"
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(src, link, target_is_directory=True)
        n = {"train": 0, "val": 0, "test": 0}
        for r in rows:
            times = repeat if r["split"] == "train" else 1
            for _ in range(times):
                rec = dict(r, path=f"src{i}/{r['path']}")
                rec["attributes"] = dict(r["attributes"], mix_source=str(src))
                records.append(rec)
            n[r["split"]] += times
        counts[str(src)] = n
    write_metadata(out_dir, records)
    return counts

"""The clip manifest: ``metadata.jsonl`` (one JSON object per clip) and its train/val/test split.

Each line: ``{"path": str (relative to the data folder), "seconds": float, "caption": str,
"split": "train" | "val" | "test", "attributes": {"source": str, "composition_id": str, ...}}``.
Synthesised clips add ``style, bpm, key, mode, instruments, mood, meter`` to the attributes;
extra top-level keys (``fingerprint``) are allowed. The split is a hash of the composition id, so a
composition (or a user's source file) never lands in two splits: ~90% train, 5% val, 5% test.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from jen1.errors import Jen1Error
from jen1.fsutil import atomic_write_text

METADATA = "metadata.jsonl"
TEST_PROMPTS = "test_prompts.jsonl"
SPLITS = ("train", "val", "test")
SYNTH_ATTRIBUTES = ("style", "bpm", "key", "mode", "instruments", "source", "composition_id")


def split_for(composition_id: str, val: float = 0.05, test: float = 0.05) -> str:
    """Deterministic split of a composition from a hash of its id."""
    h = int.from_bytes(hashlib.sha256(composition_id.encode()).digest()[:8], "big") / 2**64
    if h < test:
        return "test"
    if h < test + val:
        return "val"
    return "train"


def validate_record(rec: Any, where: str = "record") -> None:
    """Raise Jen1Error (naming ``where``) unless ``rec`` follows the manifest schema."""
    if not isinstance(rec, dict):
        raise Jen1Error(f"{where}: expected a JSON object")
    for key, typ in (
        ("path", str),
        ("seconds", (int, float)),
        ("caption", str),
        ("split", str),
        ("attributes", dict),
    ):
        if not isinstance(rec.get(key), typ):
            raise Jen1Error(f"{where}: missing or invalid '{key}'")
    if rec["split"] not in SPLITS:
        raise Jen1Error(f"{where}: split must be one of {', '.join(SPLITS)}, got {rec['split']!r}")
    if Path(rec["path"]).is_absolute() or ".." in Path(rec["path"]).parts:
        raise Jen1Error(f"{where}: path must be relative to the data folder: {rec['path']}")
    for key in ("source", "composition_id"):
        if not isinstance(rec["attributes"].get(key), str):
            raise Jen1Error(f"{where}: attributes.{key} missing or not a string")


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number from 1, parsed value) for each non-blank line of a JSON-lines file.

    Raises:
        Jen1Error: ``path:line: invalid JSON (...)``.
    """
    with Path(path).open(encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError as e:
                raise Jen1Error(f"{path}:{i}: invalid JSON ({e.msg})") from None


def read_metadata(
    path: Path, *, missing_ok: bool = False, line_numbers: bool = False
) -> list[dict[str, Any]]:
    """Read and validate a manifest; blank lines are skipped.

    ``line_numbers`` adds ``"_line"``: the record's line index in the file, from 0 (the latent
    cache stores it to name a clip).
    """
    path = Path(path)
    if not path.exists():
        if missing_ok:
            return []
        raise Jen1Error(
            f"no {path.name} in {path.parent} "
            "(create it with `jen1 data synth` or `jen1 data prepare`)"
        )
    out = []
    for i, rec in read_jsonl(path):
        validate_record(rec, f"{path}:{i}")
        if line_numbers:
            rec["_line"] = i - 1
        out.append(rec)
    return out


def dumps_records(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_metadata(out_dir: Path, records: list[dict[str, Any]]) -> None:
    """Write ``metadata.jsonl`` and ``test_prompts.jsonl`` (caption + attributes of test clips)."""
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / METADATA, dumps_records(records))
    write_test_prompts(out_dir, records)


def write_test_prompts(out_dir: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write ``test_prompts.jsonl``: caption, path, length and attributes of the test clips."""
    prompts = [
        {
            "caption": r["caption"],
            "path": r["path"],
            "seconds": r["seconds"],
            "attributes": r["attributes"],
        }
        for r in records
        if r.get("split") == "test"
    ]
    atomic_write_text(Path(out_dir) / TEST_PROMPTS, dumps_records(prompts))

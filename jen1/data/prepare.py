"""Turn a folder of the user's own music into a training folder (same format as the synth corpus).

Audio files (wav, flac, ogg, mp3, aiff, opus) anywhere under ``src_dir`` are loaded as 48 kHz
stereo (:func:`jen1.audio.load_audio`), cut into segments and written as 16-bit FLAC under
``out_dir/audio/`` with a ``metadata.jsonl`` split by source file (~90/5/5).

Captions, first match wins: a ``metadata.jsonl`` or ``metadata.csv`` at the root of ``src_dir``
(fields ``path`` relative to ``src_dir`` and ``caption``; a row's estimated ``attributes``, as
``jen1 data caption`` writes them, go to its segments as ``attributes.estimated``), then a
sidecar ``<stem>.txt`` next to the file, then ``default_caption``; a file with none is skipped.
A row's control ``labels`` (beats, downbeats, chords: :mod:`jen1.data.control_labels`) go to
its segments in each segment's own time.

Segments: windows of ``segment_seconds`` every ``hop_seconds`` (default: the segment length). A
remainder at the end of at least half a segment is kept as one more full window aligned to the
end of the file (overlapping the previous one, no padding). A file shorter than a segment but at
least half of one is kept whole, shorter (datasets pad crops). Shorter files are skipped with a
reason naming that minimum (and `jen1 data prepare` fails when no file is kept), and so
are segments whose RMS is below -50 dBFS (silence). Unreadable files are reported and skipped:
one bad file never ends the run.
"""

from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jen1.audio import AUDIO_EXTENSIONS, SAMPLE_RATE, load_audio, save_audio
from jen1.data.control_labels import shift_labels
from jen1.data.metadata import METADATA, split_for, write_metadata
from jen1.errors import Jen1Error

SILENCE_DBFS = -50.0
# Estimated attributes of a metadata.jsonl row (as `jen1 data caption` writes) that every segment
# of the file inherits under ``attributes["estimated"]``: kept apart from the true labels of the
# synth corpus (bpm, key, ...), which evaluation compares against. File-level ones (length,
# loudness) are not carried.
CARRIED_ATTRIBUTES = ("bpm", "key", "mode", "meter", "instruments", "families", "genres")


@dataclass
class PrepareSummary:
    """What :func:`prepare_folder` kept and skipped (``skipped``: (file, reason) pairs)."""

    out_dir: Path
    files_found: int = 0
    files_kept: int = 0
    segments: int = 0
    silent_segments: int = 0
    audio_seconds: float = 0.0  # total length of the kept segments
    wall_seconds: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unused_captions: int = 0  # caption-table rows naming no audio file

    @property
    def files_skipped(self) -> int:
        return len(self.skipped)

    @property
    def hours(self) -> float:
        return self.audio_seconds / 3600


def min_seconds(segment_seconds: float) -> float:
    """The shortest file kept: half a segment (shorter ones would be mostly padding)."""
    return segment_seconds / 2


def too_short(seconds: float, segment_seconds: float) -> str:
    """The skip reason of a file under :func:`min_seconds`, naming the minimum and the fix."""
    return (
        f"{seconds:.2f} s is shorter than the minimum of {min_seconds(segment_seconds):g} s "
        f"(half of --segment-seconds {segment_seconds:g}; --segment-seconds "
        f"{2 * seconds:.4g} or less keeps it)"
    )


def _read_caption_table(src_dir: Path) -> dict[str, str]:
    """``metadata.jsonl`` / ``metadata.csv`` at ``src_dir`` -> {relative path: caption}."""
    table: dict[str, str] = {}
    jsonl, csv_path = src_dir / METADATA, src_dir / "metadata.csv"
    if jsonl.exists():
        for i, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise Jen1Error(f"{jsonl}:{i}: invalid JSON ({e.msg})") from None
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("path"), str)
                or not isinstance(row.get("caption"), str)
            ):
                raise Jen1Error(f"{jsonl}:{i}: each line needs string fields 'path' and 'caption'")
            table[_norm(row["path"])] = row["caption"].strip()
    if csv_path.exists():
        with csv_path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"path", "caption"} <= set(reader.fieldnames):
                raise Jen1Error(f"{csv_path}: needs a header with columns 'path' and 'caption'")
            for row in reader:
                if row.get("path") and row.get("caption") is not None:
                    table.setdefault(_norm(row["path"]), row["caption"].strip())
    return table


def _row_attributes(src_dir: Path) -> dict[str, dict]:
    """{relative path: carried attributes} of ``src_dir/metadata.jsonl`` (already validated)."""
    jsonl, out = src_dir / METADATA, {}
    if jsonl.exists():
        for line in jsonl.read_text(encoding="utf-8").splitlines():
            attrs = json.loads(line).get("attributes") if line.strip() else None
            if isinstance(attrs, dict) and any(k in attrs for k in CARRIED_ATTRIBUTES):
                carried = {k: attrs[k] for k in CARRIED_ATTRIBUTES if k in attrs}
                out[_norm(json.loads(line)["path"])] = {"estimated": carried}
    return out


def _row_labels(src_dir: Path) -> dict[str, dict]:
    """{relative path: control labels} of ``src_dir/metadata.jsonl`` rows that carry them (a
    synthetic corpus: beats, downbeats, chords in seconds of the file)."""
    jsonl, out = src_dir / METADATA, {}
    if jsonl.exists():
        for line in jsonl.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else None
            if isinstance(row, dict) and isinstance(row.get("labels"), dict):
                out[_norm(row["path"])] = row["labels"]
    return out


def _norm(path: str) -> str:
    """Caption-table path -> the POSIX relative form used as key (``./a\\b.wav`` -> ``a/b.wav``)."""
    return Path(path.strip().replace("\\", "/")).as_posix()


def _find_audio(src_dir: Path, out_dir: Path) -> list[Path]:
    out_res = out_dir.resolve()
    files = []
    for p in sorted(src_dir.rglob("*")):
        rel = p.relative_to(src_dir)
        if (
            any(part.startswith(".") for part in rel.parts)
            or p.suffix.lower() not in AUDIO_EXTENSIONS
        ):
            continue
        if p.resolve() == out_res or out_res in p.resolve().parents:
            continue  # never read our own output
        if p.is_file():
            files.append(p)
    return files


def segment_starts(num_samples: int, segment: int, hop: int) -> list[tuple[int, int]]:
    """(start, length) of the segments of a file (see module docstring for the rules)."""
    if num_samples < segment:
        return [(0, num_samples)] if num_samples >= segment / 2 else []
    starts = list(range(0, num_samples - segment + 1, hop))
    if num_samples - (starts[-1] + segment) >= segment / 2:
        starts.append(num_samples - segment)
    return [(s, segment) for s in starts]


def _slug(rel: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", rel.with_suffix("").as_posix().replace("/", "__"))


def prepare_folder(
    src_dir: Path,
    out_dir: Path,
    *,
    segment_seconds: float = 10.0,
    hop_seconds: float | None = None,
    default_caption: str | None = None,
    progress: bool = True,
) -> PrepareSummary:
    """Segment and caption every audio file under ``src_dir`` into ``out_dir`` (module docstring).

    Raises:
        Jen1Error: ``src_dir`` missing, bad segment/hop lengths or a malformed caption table.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if not src_dir.is_dir():
        raise Jen1Error(f"source folder not found: {src_dir}")
    hop_seconds = segment_seconds if hop_seconds is None else hop_seconds
    if not (segment_seconds > 0 and hop_seconds > 0):
        raise Jen1Error("segment and hop lengths must be positive")
    seg, hop = round(segment_seconds * SAMPLE_RATE), round(hop_seconds * SAMPLE_RATE)
    captions = _read_caption_table(src_dir)
    labels = _row_attributes(src_dir)
    control_labels = _row_labels(src_dir)
    files = _find_audio(src_dir, out_dir)
    summary = PrepareSummary(out_dir, files_found=len(files))
    used_captions: set[str] = set()
    records = []
    for path in tqdm(files, disable=not progress, unit="file", desc="prepare"):
        rel = path.relative_to(src_dir)
        key = rel.as_posix()
        sidecar = path.with_suffix(".txt")
        if key in captions:
            caption = captions[key]
            used_captions.add(key)
        elif sidecar.exists():
            caption = sidecar.read_text(encoding="utf-8", errors="replace").strip()
        else:
            caption = (default_caption or "").strip()
        if not caption:
            summary.skipped.append(
                (key, "no caption (add a .txt sidecar or pass --default-caption)")
            )
            continue
        try:
            wav = load_audio(path)
        except Jen1Error as e:
            summary.skipped.append((key, str(e)))
            continue
        except Exception as e:  # noqa: BLE001 - a decoder crash on an odd file skips that file
            summary.skipped.append((key, f"cannot read: {type(e).__name__}: {e}"))
            continue
        spans = segment_starts(wav.shape[-1], seg, hop)
        if not spans:
            summary.skipped.append((key, too_short(wav.shape[-1] / SAMPLE_RATE, segment_seconds)))
            continue
        kept = 0
        for k, (start, length) in enumerate(spans):
            piece = wav[:, start : start + length]
            rms = float(np.sqrt(np.mean(piece.astype(np.float64) ** 2)))
            if 20 * np.log10(rms + 1e-12) < SILENCE_DBFS:
                summary.silent_segments += 1
                continue
            out_rel = f"audio/{_slug(rel)}_{k:04d}.flac"
            save_audio(out_dir / out_rel, piece, overwrite=True, subtype="PCM_16")
            seg_labels = {}
            if key in control_labels:  # in the segment's own time (offset-aware)
                cut = shift_labels(control_labels[key], start / SAMPLE_RATE, length / SAMPLE_RATE)
                seg_labels = {"labels": cut}
            records.append(
                {
                    **seg_labels,
                    "path": out_rel,
                    "seconds": round(length / SAMPLE_RATE, 6),
                    "caption": caption,
                    "split": split_for(f"file:{key}"),
                    "attributes": {
                        **labels.get(key, {}),
                        "source": f"file:{key}",
                        "composition_id": f"file:{key}",
                        "start_seconds": round(start / SAMPLE_RATE, 6),
                    },
                }
            )
            kept += 1
            summary.audio_seconds += length / SAMPLE_RATE
        if kept == 0:
            summary.skipped.append((key, "silent (every segment below -50 dBFS)"))
            continue
        summary.files_kept += 1
        summary.segments += kept
    summary.unused_captions = len(set(captions) - used_captions)
    write_metadata(out_dir, records)
    summary.wall_seconds = time.perf_counter() - t0
    return summary

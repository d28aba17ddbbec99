"""``jen1 data caption``: write captions for a folder of audio that has none.

Every audio file under ``src_dir`` (the files :func:`jen1.data.prepare.prepare_folder` reads)
that has no caption yet gets one row in ``metadata.jsonl``: ``{"path": <relative to src_dir>,
"caption": str, "attributes": {...}, "captioned_by": "jen1 data caption"}``, which is the
table ``jen1 data prepare`` reads. The caption and its attributes come from
:mod:`jen1.data.autocaption`.

Existing captions are kept: a file already captioned by a row of ``src_dir/metadata.jsonl`` or
``metadata.csv``, by a row of the output file, or by a non-empty sidecar ``<stem>.txt`` is
skipped, unless ``overwrite``; then it gets a new row (the rows of ``metadata.jsonl`` win over
sidecars and the CSV in ``jen1 data prepare``; the sidecar and CSV files themselves are never
touched). Rows of the output file for other files are kept as they were, line for line.

The output is rewritten atomically every few files, so an interrupted run keeps its work and a
re-run goes on where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jen1.audio import AUDIO_EXTENSIONS, SAMPLE_RATE, audio_info, load_audio, resample, to_stereo
from jen1.data.autocaption import (
    analyse,
    compose_caption,
    embedded_tags,
    name_words,
    rng_for,
)
from jen1.data.metadata import METADATA
from jen1.data.prepare import _find_audio, _norm, _read_caption_table
from jen1.errors import AudioError, Jen1Error
from jen1.fsutil import atomic_write_text

CAPTIONED_BY = "jen1 data caption"
_SAVE_EVERY = 20  # files between rewrites of the output
MAX_SECONDS = 120.0  # longer files are analysed on their middle two minutes


@dataclass
class CaptionSummary:
    """What :func:`caption_folder` did (``failed``: (file, reason) pairs)."""

    out: Path
    files_found: int = 0
    captioned: int = 0
    replaced: int = 0  # of ``captioned``: files that had a caption (only with overwrite)
    kept_existing: int = 0
    wall_seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)


def _read_rows(path: Path) -> list[tuple[str | None, str]]:
    """Lines of an existing output file as (normalised path or None, original line)."""
    if not path.exists():
        return []
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise Jen1Error(f"{path}:{i}: invalid JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("path"), str):
            raise Jen1Error(f"{path}:{i}: each line needs a string field 'path'")
        has_caption = isinstance(row.get("caption"), str) and bool(row["caption"].strip())
        rows.append((_norm(row["path"]) if has_caption else None, line))
    return rows


def _write(path: Path, lines: list[str]) -> None:
    """Rewrite ``path`` atomically, keeping its permissions (a new file gets the umask's)."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    os.chmod(path, mode)  # the temporary file was created 0600


def load_excerpt(path: Path, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, float]:
    """The middle ``max_seconds`` of a file as (2, L) at 48 kHz (all of a shorter one), and the
    file's length in seconds. Only the excerpt is decoded, so an hour-long file costs as much
    as a two-minute one.

    Raises:
        AudioError: the file cannot be read as audio.
    """
    import soundfile as sf

    info = audio_info(path)
    if info["seconds"] <= max_seconds:
        wav = load_audio(path)
        return wav, wav.shape[-1] / SAMPLE_RATE
    sr = info["sample_rate"]
    n = round(max_seconds * sr)
    try:
        data, _ = sf.read(
            str(path), start=(info["frames"] - n) // 2, frames=n, dtype="float32", always_2d=True
        )
    except Exception as e:  # as jen1.audio: soundfile raises several kinds
        raise AudioError(f"cannot read audio file {path}: {e}") from None
    if data.shape[0] == 0 or not np.all(np.isfinite(data)):
        raise AudioError(f"audio file has no readable samples in its middle: {path}")
    return resample(to_stereo(np.ascontiguousarray(data.T)), sr), info["seconds"]


def describe_file(path: Path, rel: str, tagger: Any, *, seed: int = 0) -> dict[str, Any]:
    """Caption and attributes of one audio file (``rel``: its path relative to the folder).

    Raises:
        Jen1Error: the file cannot be read as audio.
    """
    wav, seconds = load_excerpt(path)
    attrs = analyse(wav, tagger, SAMPLE_RATE, max_seconds=MAX_SECONDS)
    tags = embedded_tags(path)
    names = name_words(rel)
    title = tags.get("title") or names["file"]
    album = tags.get("album") or (names["folders"][-1] if names["folders"] else None)
    genre = tags.get("genre", "").lower() or None
    caption = compose_caption(attrs, rng_for(rel, seed), title=title, album=album, genre=genre)
    attrs.update(
        seconds=round(seconds, 3),
        file_tags=tags,
        name_words=names,
        source=f"file:{rel}",
    )
    return {"path": rel, "caption": caption, "attributes": attrs, "captioned_by": CAPTIONED_BY}


def caption_folder(
    src_dir: Path,
    out: Path | None = None,
    *,
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = True,
    tagger: Any = None,
) -> CaptionSummary:
    """Caption every audio file under ``src_dir`` that has no caption (module docstring).

    Args:
        out: the metadata file to write (default ``src_dir/metadata.jsonl``, the one
            ``jen1 data prepare`` reads).
        overwrite: caption files that already have a caption too.
        seed: wording seed (the same seed gives the same captions).
        tagger: a loaded :class:`jen1.eval.musicnn.MusicnnMTT` (default: load it).

    Raises:
        Jen1Error: ``src_dir`` missing or without audio, a malformed caption table.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise Jen1Error(f"folder not found: {src_dir}")
    out = src_dir / METADATA if out is None else Path(out)
    if out.is_dir():
        raise Jen1Error(f"--out must be a file, got a folder: {out}")
    files = _find_audio(src_dir, out)
    if not files:
        raise Jen1Error(f"no audio files in {src_dir} (looked for {', '.join(AUDIO_EXTENSIONS)})")
    existing = set(_read_caption_table(src_dir))  # what `jen1 data prepare` would use
    rows = _read_rows(out)
    existing |= {p for p, _ in rows if p}
    summary = CaptionSummary(out, files_found=len(files))
    todo = []
    for p in files:
        rel = p.relative_to(src_dir).as_posix()
        sidecar = p.with_suffix(".txt")
        has = rel in existing or (
            sidecar.exists() and sidecar.read_text(encoding="utf-8", errors="replace").strip()
        )
        if has and not overwrite:
            summary.kept_existing += 1
        else:
            todo.append((p, rel, bool(has)))
    if not todo:
        summary.wall_seconds = time.perf_counter() - t0
        return summary
    if tagger is None:
        from jen1.eval.musicnn import MusicnnMTT

        tagger = MusicnnMTT.from_package()
    lines = [line for _, line in rows]
    index = {p: i for i, (p, _) in enumerate(rows) if p}  # path -> line to replace
    unsaved = 0
    try:
        for path, rel, had in tqdm(todo, disable=not progress, unit="file", desc="caption"):
            try:
                row = describe_file(path, rel, tagger, seed=seed)
            except Jen1Error as e:
                summary.failed.append((rel, str(e)))
                continue
            except Exception as e:  # noqa: BLE001 - a decoder crash on an odd file skips it
                summary.failed.append((rel, f"cannot read: {type(e).__name__}: {e}"))
                continue
            line = json.dumps(row, ensure_ascii=False)
            if rel in index:
                lines[index[rel]] = line
            else:
                index[rel] = len(lines)
                lines.append(line)
            summary.captioned += 1
            summary.replaced += had
            unsaved += 1
            if unsaved >= _SAVE_EVERY:
                _write(out, lines)
                unsaved = 0
    finally:  # an interrupted run keeps the captions it finished
        if unsaved:
            _write(out, lines)
    summary.wall_seconds = time.perf_counter() - t0
    return summary


def enrich_corpus(
    corpus_dir: Path, *, seed: int = 0, progress: bool = True, tagger: Any = None
) -> CaptionSummary:
    """Add what the tagger hears to the captions of a corpus (``jen1 data caption --enrich``).

    Every row of ``corpus_dir/metadata.jsonl`` with a caption and no labels of its own (no
    ``attributes.bpm``, as the synthetic corpus has) and not enriched yet keeps its caption
    (the real-music corpus': the package's style and the track's name) with a phrase added:
    the instruments, tempo and confident key :func:`jen1.data.autocaption.analyse` finds in the
    clip. The estimates go to ``attributes.estimated`` (tempo; key and mode when confident),
    which ``jen1 data encode`` turns into control labels, and the tagger's top tags to
    ``attributes.tags``. Saved every few rows; a re-run goes on where it stopped.

    Raises:
        Jen1Error: no ``metadata.jsonl`` in ``corpus_dir``.
    """
    from tqdm import tqdm

    from jen1.data.autocaption import detail_phrase, estimated_controls
    from jen1.data.metadata import TEST_PROMPTS, write_test_prompts

    t0 = time.perf_counter()
    corpus_dir = Path(corpus_dir)
    out = corpus_dir / METADATA
    if not out.is_file():
        raise Jen1Error(f"no {METADATA} in {corpus_dir}: --enrich needs a corpus directory")
    lines = out.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) if line.strip() else None for line in lines]
    todo = [
        i
        for i, r in enumerate(rows)
        if r
        and r.get("caption")
        and r.get("attributes", {}).get("bpm") is None
        and "estimated" not in r.get("attributes", {})
    ]
    summary = CaptionSummary(out, files_found=sum(r is not None for r in rows))
    summary.kept_existing = summary.files_found - len(todo)
    if not todo:
        summary.wall_seconds = time.perf_counter() - t0
        return summary
    if tagger is None:
        from jen1.eval.musicnn import MusicnnMTT

        tagger = MusicnnMTT.from_package()
    unsaved = 0
    try:
        for i in tqdm(todo, disable=not progress, unit="clip", desc="enrich captions"):
            row = rows[i]
            try:
                wav, _ = load_excerpt(corpus_dir / row["path"])
                attrs = analyse(wav, tagger, SAMPLE_RATE, max_seconds=MAX_SECONDS)
            except Exception as e:  # noqa: BLE001 - an unreadable clip is reported and skipped
                summary.failed.append((row["path"], f"{type(e).__name__}: {e}"))
                continue
            detail = detail_phrase(attrs, rng_for(row["path"], seed))
            if detail:  # continues the caption: no capital after the comma
                row["caption"] = f"{row['caption'].rstrip(' .')}, {detail[:1].lower()}{detail[1:]}"
            row.setdefault("attributes", {})
            row["attributes"]["estimated"] = estimated_controls(attrs)
            row["attributes"]["tags"] = attrs["tags"]
            row["attributes"]["instruments_heard"] = attrs["instruments"]
            lines[i] = json.dumps(row, ensure_ascii=False)
            summary.captioned += 1
            unsaved += 1
            if unsaved >= _SAVE_EVERY:
                _write(out, lines)
                unsaved = 0
    finally:  # an interrupted run keeps the rows it finished
        if unsaved:
            _write(out, lines)
        if summary.captioned and (corpus_dir / TEST_PROMPTS).exists():
            # the evaluation prompts are the test rows' captions: keep them the same
            write_test_prompts(corpus_dir, [r for r in rows if r])
    summary.wall_seconds = time.perf_counter() - t0
    return summary

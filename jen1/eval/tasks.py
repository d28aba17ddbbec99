"""``jen1 eval tasks``: do continuation and inpainting keep a real track's tempo and key, and is
the join as smooth as the music's own?

Each track is ``context + seconds`` of consecutive corpus segments of one recording. The model
continues the first ``context`` seconds by ``seconds``, and separately regenerates a ``gap``
seconds long in the middle of the whole track. The part it made is measured against the part
it kept, with the project's estimators (:mod:`jen1.eval.music`): tempo within 8%, key close
(same, a fifth apart or relative), and the spectral flux at each splice point
(:func:`jen1.eval.splice.boundary_jump`). The same measurements on the original recording
(its real continuation, its real middle) are the reference row: what the estimators give for
music that does keep its tempo and key, at the same lengths.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jen1.errors import Jen1Error

TEMPO_TOLERANCE = 0.08  # the "within 8%"
CLOSE_KEYS = ("exact", "fifth", "relative")


@dataclasses.dataclass(frozen=True)
class Track:
    """Consecutive segments of one recording in a corpus split."""

    source: str
    package: str
    files: tuple[Path, ...]
    caption: str


def read_tracks(corpus: Path, split: str, n: int, seconds: float) -> list[Track]:
    """At most ``n`` tracks of ``seconds`` from the split: per recording (its
    ``composition_id``; segments carry ``start_seconds``, as ``jen1 data real`` writes), the
    first run of consecutive segments long enough; recordings evenly spaced over the split
    (which lists them by package), one track each."""
    from jen1.data.metadata import read_metadata

    meta = corpus / "metadata.jsonl"
    if not meta.exists():
        raise Jen1Error(f"{corpus} is not a corpus (no metadata.jsonl): build one with jen1 data")
    by_source: dict[str, list[dict[str, Any]]] = {}
    for r in read_metadata(meta):
        a = r.get("attributes") or {}
        if r.get("split", "train") == split and "start_seconds" in a:
            key = str(a.get("composition_id") or a.get("source") or r["path"])
            by_source.setdefault(key, []).append(r)
    tracks = []
    for source, rows in by_source.items():
        rows.sort(key=lambda r: float(r["attributes"]["start_seconds"]))
        run: list[dict[str, Any]] = []
        for r in rows:
            if run and abs(_end(run[-1]) - float(r["attributes"]["start_seconds"])) > 1e-3:
                run = []
            run.append(r)
            if sum(float(x["seconds"]) for x in run) >= seconds - 1e-6:
                tracks.append(
                    Track(
                        source,
                        str(run[0]["attributes"].get("package", "")),
                        tuple(corpus / x["path"] for x in run),
                        str(run[0].get("caption", "")),
                    )
                )
                break
    if not tracks:
        raise Jen1Error(
            f"no {split} recording in {corpus} has {seconds:g} s of consecutive segments"
        )
    if len(tracks) > n > 0:
        tracks = [tracks[i * len(tracks) // n] for i in range(n)]
    return tracks


def _end(row: dict[str, Any]) -> float:
    return float(row["attributes"]["start_seconds"]) + float(row["seconds"])


def load_track(track: Track, seconds: float, sr: int) -> np.ndarray:
    """(2, round(seconds * sr)) float32: the track's segments joined and cropped."""
    from jen1.audio import load_audio

    wav = np.concatenate([load_audio(f, sample_rate=sr) for f in track.files], axis=-1)
    n = round(seconds * sr)
    if wav.shape[-1] < n:
        raise Jen1Error(f"{track.source}: {wav.shape[-1] / sr:.2f} s, shorter than {seconds:g} s")
    return wav[:, :n].astype(np.float32)


def compare(made: np.ndarray, kept: np.ndarray, sr: int) -> dict[str, Any]:
    """Tempo and key of the audio a task ``made`` against the audio it ``kept`` (each (2, L))."""
    from jen1.eval.music import estimate_key, estimate_tempo, key_relation

    bpm_made, bpm_kept = estimate_tempo(made, sr), estimate_tempo(kept, sr)
    err = abs(bpm_made - bpm_kept) / bpm_kept
    ratio = max(bpm_made, bpm_kept) / min(bpm_made, bpm_kept)
    k_made, k_kept = estimate_key(made, sr), estimate_key(kept, sr)
    rel = key_relation(k_made[:2], k_kept[:2])
    return {
        "bpm_made": bpm_made,
        "bpm_kept": bpm_kept,
        "tempo_error": err,
        "tempo_ok": err <= TEMPO_TOLERANCE,
        "tempo_octave": abs(ratio - 2.0) / 2.0 <= TEMPO_TOLERANCE,
        "key_made": " ".join(k_made[:2]),
        "key_kept": " ".join(k_kept[:2]),
        "key": rel,
        "key_close": rel in CLOSE_KEYS,
    }


def measure(
    result: np.ndarray,
    kept: np.ndarray,
    made: tuple[float, float],
    boundaries: Sequence[float],
    sr: int,
) -> dict[str, Any]:
    """One task's row: ``made`` = (start, end) seconds of ``result`` the model made; ``kept``
    the audio it kept; splice flux at ``boundaries``."""
    from jen1.eval.splice import boundary_jump

    a, e = round(made[0] * sr), round(made[1] * sr)
    row = compare(result[:, a:e], kept, sr)
    row["splice"] = boundary_jump(result, list(boundaries), sr)["max_ratio"]
    return row


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Shares of rows keeping tempo, key and both; splice flux median and 90th percentile."""
    if not rows:
        return {}
    sp = np.array([r["splice"] for r in rows], dtype=np.float64)
    return {
        "tracks": len(rows),
        "tempo_within_8pct": float(np.mean([r["tempo_ok"] for r in rows])),
        "tempo_octave": float(np.mean([r["tempo_octave"] for r in rows])),
        "key_close": float(np.mean([r["key_close"] for r in rows])),
        "key_exact": float(np.mean([r["key"] == "exact" for r in rows])),
        "both": float(np.mean([r["tempo_ok"] and r["key_close"] for r in rows])),
        "median_tempo_error_pct": 100 * float(np.median([r["tempo_error"] for r in rows])),
        "splice_median": float(np.median(sp)),
        "splice_p90": float(np.percentile(sp, 90)),
    }


def evaluate_tasks(
    model: str | Path | None,
    corpus: Path,
    *,
    split: str = "test",
    n: int = 24,
    context: float = 10.0,
    seconds: float = 10.0,
    gap: float = 6.0,
    prompts: str = "none",
    steps: int | None = None,
    cfg_scale: float | None = None,
    seed: int = 0,
    out_dir: Path | None = None,
    save_audio: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Continue and inpaint ``n`` real tracks; rows per track and a summary per task, the
    generated audio's beside the original's. Track k uses seed ``seed + k``."""
    from tqdm import tqdm

    from jen1.pipeline import Pipeline

    if prompts not in ("none", "caption"):
        raise Jen1Error(f"prompts must be 'none' or 'caption', got {prompts!r}")
    for name, v in (("context", context), ("seconds", seconds), ("gap", gap)):
        if not (np.isfinite(v) and v > 0):
            raise Jen1Error(f"--{name} must be a positive number of seconds, got {v:g}")
    total = context + seconds
    if gap >= total:
        raise Jen1Error(f"the gap ({gap:g} s) must be shorter than the track ({total:g} s)")
    tracks = read_tracks(corpus, split, n, total)
    pipe = Pipeline.from_pretrained(model)
    sr = pipe.sample_rate
    g0 = total / 2 - gap / 2
    g1 = g0 + gap
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in ("continue", "inpaint")}
    real: dict[str, list[dict[str, Any]]] = {k: [] for k in ("continue", "inpaint")}
    sheet = []
    for k, track in enumerate(tqdm(tracks, desc="tracks", unit="track", disable=not progress)):
        wav = load_track(track, total, sr)
        text = track.caption if prompts == "caption" else None
        ctx = wav[:, : round(context * sr)]
        cont = pipe.continue_(ctx, text, seconds, steps=steps, cfg_scale=cfg_scale, seed=seed + k)
        cont = cont[0].float().cpu().numpy()
        inp = pipe.inpaint(wav, g0, g1, text, steps=steps, cfg_scale=cfg_scale, seed=seed + k)
        inp = inp[0].float().cpu().numpy()
        outside = np.concatenate([wav[:, : round(g0 * sr)], wav[:, round(g1 * sr) :]], axis=-1)
        info = {"source": track.source, "package": track.package}
        rows["continue"].append(info | measure(cont, ctx, (context, total), [context], sr))
        real["continue"].append(info | measure(wav, ctx, (context, total), [context], sr))
        rows["inpaint"].append(info | measure(inp, outside, (g0, g1), [g0, g1], sr))
        real["inpaint"].append(info | measure(wav, outside, (g0, g1), [g0, g1], sr))
        if out_dir is not None:
            if len(sheet) < 12:
                name = Path(track.source).stem[:40]
                sheet += [(f"{name}: continued at {context:g} s", cont),
                          (f"{name}: gap {g0:g}-{g1:g} s inpainted", inp)]  # fmt: skip
            if save_audio:
                from jen1.audio import save_audio as save

                save(out_dir / "audio" / f"{k:03d}-continue.wav", cont, overwrite=True)
                save(out_dir / "audio" / f"{k:03d}-inpaint.wav", inp, overwrite=True)
    if sheet:
        from jen1.eval.report import plot_sheet

        plot_sheet(sheet, out_dir / "tasks.png")
    return {
        "model": str(model) if model else "shipped",
        "corpus": str(corpus),
        "split": split,
        "tracks": len(tracks),
        "packages": len({t.package for t in tracks}),
        "context_seconds": context,
        "continue_seconds": seconds,
        "gap": [g0, g1],
        "prompts": prompts,
        "steps": pipe.cfg.sampling.steps if steps is None else steps,
        "cfg_scale": pipe.cfg.sampling.cfg_scale if cfg_scale is None else cfg_scale,
        "seed": seed,
        "summary": {
            task: {"generated": summarize(rows[task]), "real": summarize(real[task])}
            for task in rows
        },
        "rows": rows,
        "real_rows": real,
    }


def format_table(result: dict[str, Any]) -> str:
    """Per task: the generated part against the original's, side by side."""
    head = (
        f"jen1 eval tasks: {result['tracks']} tracks from {result['packages']} packages "
        f"({result['split']}), context {result['context_seconds']:g} s + "
        f"{result['continue_seconds']:g} s, gap {result['gap'][0]:g}-{result['gap'][1]:g} s, "
        f"prompts {result['prompts']}, steps {result['steps']}, cfg {result['cfg_scale']:g}, "
        f"seed {result['seed']}"
    )
    lines = [head, f"{'task / metric':<40}{'generated':>12}{'real':>12}"]
    metrics = (("tempo within 8%", "tempo_within_8pct", "pct"),
               ("tempo off by an octave", "tempo_octave", "pct"),
               ("key close (same/fifth/relative)", "key_close", "pct"),
               ("key same", "key_exact", "pct"),
               ("tempo and key kept", "both", "pct"),
               ("median tempo error %", "median_tempo_error_pct", "num"),
               ("splice flux ratio, median", "splice_median", "num"),
               ("splice flux ratio, 90th pct", "splice_p90", "num"))  # fmt: skip
    for task, s in result["summary"].items():
        lines.append(task)
        for name, key, kind in metrics:
            g, r = s["generated"][key], s["real"][key]
            fmt = (lambda x: f"{100 * x:.0f}%") if kind == "pct" else (lambda x: f"{x:.2f}")
            lines.append(f"  {name:<38}{fmt(g):>12}{fmt(r):>12}")
    return "\n".join(lines)

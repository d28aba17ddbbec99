"""Synthesise a captioned training corpus: composed and music21 pieces rendered with a SoundFont.

``synthesize_corpus(out_dir, clips=N)`` writes ``audio/XXX/NNNNNN.flac`` (48 kHz stereo, 16-bit),
``metadata.jsonl`` and ``test_prompts.jsonl`` (see :mod:`jen1.data.metadata`). About 25% of the
clips come from real compositions in the music21 corpus, the rest from the seeded composer.

Determinism: clip ``i`` depends only on (seed, i, seconds, soundfont, music21_share), never on
``clips`` or ``workers``: a larger corpus with the same seed extends a smaller one, and a re-run
skips clips whose file and manifest entry (``fingerprint``) are already there. Finished clips
are appended to ``metadata.partial.jsonl`` as they come, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jen1.audio import SAMPLE_RATE, save_audio
from jen1.synth.captions import make_caption
from jen1.synth.composer import compose, orchestrate
from jen1.data.metadata import METADATA, read_metadata, split_for, write_metadata
from jen1.synth.render import (
    DEFAULT_SOUNDFONT,
    get_renderer,
    normalise_loudness,
    render_window,
    vary_mix,
)
from jen1.synth.theory import key_name
from jen1.data.control_labels import chord_symbol, steady_labels
from jen1.errors import Jen1Error

SYNTH_VERSION = 1  # bump when the output for a given seed changes
PARTIAL = "metadata.partial.jsonl"
MUSIC21_MOODS = {
    "classical chorale": ("solemn", "reverent", "serene", "stately", "devotional"),
    "folk tune": ("lively", "spirited", "rustic", "jaunty", "cheerful"),
    "renaissance polyphony": ("serene", "sacred", "contemplative", "luminous", "meditative"),
}
_SILENCE_DB = -50.0


@dataclass(frozen=True)
class ClipPlan:
    """What clip ``index`` is: variant ``variant`` of composition ``composition``."""

    index: int
    composition: int
    variant: int
    work: str | None  # music21 corpus path, None for the composer


@dataclass
class SynthSummary:
    """Counts and timings of one :func:`synthesize_corpus` run."""

    out_dir: Path
    clips: int = 0  # clips in the manifest
    rendered: int = 0
    reused: int = 0
    failed: int = 0
    music21: int = 0  # manifest clips from the music21 corpus
    audio_seconds: float = 0.0  # total audio in the manifest
    rendered_seconds: float = 0.0  # audio rendered by this run
    wall_seconds: float = 0.0
    disk_bytes: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return self.audio_seconds / 3600

    @property
    def speed(self) -> float:
        """Rendered audio seconds per wall-clock second (x real time)."""
        return self.rendered_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


def plan_corpus(clips: int, seed: int, music21_share: float = 0.25) -> list[list[ClipPlan]]:
    """Group clip indices 0..clips-1 into compositions (a prefix of a longer plan is the same).

    Composer compositions give 1-3 clips, music21 works 2-4 (their parse is the slow part).
    """
    from jen1.synth.music21_source import CATEGORY_WEIGHTS, list_works

    works = list_works() if music21_share > 0 else {}
    cats = [c for c in CATEGORY_WEIGHTS if works.get(c)]
    rng = np.random.default_rng([seed, 0x5EED])
    perms = {
        c: np.random.default_rng([seed, i, 7]).permutation(len(works[c]))
        for i, c in enumerate(cats)
    }
    used = {c: 0 for c in cats}
    weights = np.array([CATEGORY_WEIGHTS[c] for c in cats])
    # a music21 piece gives 3 clips on average, a composed one 1.7: choose pieces with probability q
    q = 1.7 * music21_share / (3.0 - 1.3 * music21_share)
    plan: list[list[ClipPlan]] = []
    index = comp = 0
    while index < clips:
        u, n_comp, n_m21, pick = (
            rng.random(),
            rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]),
            rng.choice([2, 3, 4]),
            rng.random(),
        )
        work = None
        if cats and u < q:
            c = cats[int(np.searchsorted(np.cumsum(weights / weights.sum()), pick))]
            work = works[c][perms[c][used[c] % len(works[c])]]
            used[c] += 1
        n = int(n_m21 if work else n_comp)
        group = [ClipPlan(index + v, comp, v, work) for v in range(min(n, clips - index))]
        plan.append(group)
        index += len(group)
        comp += 1
    return plan


def clip_path(index: int) -> str:
    return f"audio/{index // 1000:03d}/{index:06d}.flac"


def _fingerprint(
    seed: int,
    index: int,
    seconds: float,
    soundfont: Path,
    music21_share: float,
    drum_kits: tuple[Path, ...] = (),
    vary: bool = False,
) -> str:
    sf_id = f"{soundfont.name}:{soundfont.stat().st_size}"
    fields: list[Any] = [SYNTH_VERSION, seed, index, seconds, sf_id, music21_share]
    if drum_kits or vary:  # absent from older corpora's fingerprints, which stay valid
        fields += [[f"{k.name}:{k.stat().st_size}" for k in drum_kits], vary]
    text = json.dumps(fields)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class _Task:
    plans: list[ClipPlan]
    render: list[int]  # indices of the plans to render (others already exist)
    out_dir: str
    soundfont: str
    seconds: float
    seed: int
    fingerprints: dict[int, str]
    drum_kits: tuple[str, ...] = ()
    vary_mix: bool = False


@dataclass
class _Result:
    records: list[dict[str, Any]]
    errors: list[str]
    seconds: float


def _rms_db(wav: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(wav.astype(np.float64) ** 2)) + 1e-12))


def _composer_clips(task: _Task, comp_id: str) -> list[tuple[Any, ...]]:
    """(plan, arrangement, start, attributes, labels) for each clip to render of a composer
    piece; ``labels(start)`` gives the clip's exact beats, downbeats and chords."""
    first = task.plans[0]
    comp = compose(np.random.SeedSequence([task.seed, first.composition]))
    chords = [(s, d, chord_symbol(c.root, c.intervals)) for s, d, c in comp.chords]

    def labels(start: float) -> dict[str, Any]:
        return steady_labels(comp.bpm, comp.beats_per_bar, start, task.seconds, chords)

    out = []
    for plan in task.plans:
        if plan.index not in task.render:
            continue
        vr = np.random.default_rng([task.seed, plan.composition, plan.variant, 1])
        arr = orchestrate(comp, vr)
        bar_s = comp.beats_per_bar * 60.0 / comp.bpm
        last_bar = int((arr.seconds - task.seconds - 0.5) // bar_s)
        start = (
            0.0
            if plan.variant == 0 or last_bar < 1
            else float(vr.integers(1, last_bar + 1)) * bar_s
        )
        attrs = {
            "style": comp.style.name,
            "bpm": comp.bpm,
            "key": key_name(comp.tonic, comp.mode),
            "mode": comp.mode,
            "instruments": [],
            "mood": comp.mood,
            "meter": f"{comp.beats_per_bar}/4",
            "source": "composer",
            "composition_id": comp_id,
        }
        out.append((plan, arr, start, attrs, labels))
    return out


def _music21_clips(task: _Task, work: str, cache_dir: Path) -> list[tuple[Any, ...]]:
    from jen1.synth.music21_source import arrange_piece, load_piece, loop_arrangement

    piece = load_piece(work, cache_dir)
    num = int(piece.meter.split("/")[0]) if re.fullmatch(r"\d+/\d+", piece.meter) else 0
    out = []
    for plan in task.plans:
        if plan.index not in task.render:
            continue
        arr, style, bpm = arrange_piece(
            piece,
            np.random.SeedSequence([task.seed, plan.composition]),
            variant_seed=np.random.SeedSequence([task.seed, plan.composition, plan.variant]),
        )
        vr = np.random.default_rng([task.seed, plan.composition, plan.variant, 1])
        sec_per_ql = 60.0 / bpm / piece.beat_ql
        arr = loop_arrangement(arr, (task.seconds + 1.0) / (60.0 / bpm))
        starts = [
            o * sec_per_ql
            for o in piece.bar_offsets
            if o * sec_per_ql <= arr.seconds - task.seconds - 0.25
        ]
        start = (
            starts[0]
            if plan.variant == 0 or len(starts) < 2
            else float(starts[int(vr.integers(1, len(starts)))])
        )
        moods = MUSIC21_MOODS[style]
        attrs = {
            "style": style,
            "bpm": bpm,
            "key": key_name(piece.tonic, piece.mode),
            "mode": piece.mode,
            "instruments": [],
            "mood": str(moods[int(vr.integers(len(moods)))]),
            "meter": piece.meter,
            "source": f"music21:{work}",
            "composition_id": f"music21:{work}",
        }

        def labels(start: float, bpm: float = bpm, sec_per_ql: float = sec_per_ql):
            # beats on the steady grid from the first full bar line, a downbeat every bar
            # (music21 bars of the piece's meter); none past the end of the piece's first pass
            # (looping may shift the grid) and no chord labels for these pieces
            bars = piece.bar_offsets
            bar_zero = (bars[1] if len(bars) > 1 else bars[0]) * sec_per_ql
            den = int(piece.meter.split("/")[1]) if num else 4
            per_bar = round(num * 4 / den / piece.beat_ql) if num else 0
            if start + task.seconds > piece.length_ql * sec_per_ql or per_bar < 1:
                return {"beats": [], "downbeats": [], "chords": []}
            return steady_labels(bpm, per_bar, start, task.seconds, (), bar_zero)

        out.append((plan, arr, start, attrs, labels))
    return out


def _render_task(task: _Task) -> _Result:
    """Render the requested clips of one composition (runs in a worker process)."""
    out_dir = Path(task.out_dir)
    renderer = get_renderer(task.soundfont, task.drum_kits)
    first = task.plans[0]
    composer_id = f"composer:{task.seed}:{first.composition}"
    errors: list[str] = []
    clips: list[tuple[Any, ...]] = []
    if first.work is not None:
        try:
            clips = _music21_clips(task, first.work, out_dir / ".cache" / "music21")
        except Exception as e:  # noqa: BLE001 - unparsable work: compose instead, same indices
            errors.append(
                f"music21 work {first.work} skipped ({type(e).__name__}: {e}); composed instead"
            )
    if not clips:
        clips = _composer_clips(task, composer_id)
    records, seconds = [], 0.0
    for plan, arr, start, attrs, labels in clips:
        try:
            vr = np.random.default_rng([task.seed, plan.composition, plan.variant, 3])
            target = float(vr.uniform(-21.0, -14.0))  # loudness varies; peak <= -1 dBFS
            # the kit and the mix come from their own stream: the others stay as they were
            mr = np.random.default_rng([task.seed, plan.composition, plan.variant, 4])
            kit = None
            if task.drum_kits:
                k = int(mr.integers(len(task.drum_kits) + 1))  # 0: the GM font's own kit
                kit = k - 1 if k else None
            wav, audible = render_window(arr, start, task.seconds, renderer, vr, target, kit)
            if _rms_db(wav) < _SILENCE_DB and start > 0:
                start = 0.0
                wav, audible = render_window(arr, 0.0, task.seconds, renderer, vr, target, kit)
            if _rms_db(wav) < _SILENCE_DB or not audible:
                raise RuntimeError("rendered silence")
            attrs = dict(attrs, instruments=audible)
            if task.drum_kits:
                attrs["drum_kit"] = "gm" if kit is None else Path(task.drum_kits[kit]).stem
            if task.vary_mix:
                wav, mix = vary_mix(wav, mr)
                wav = normalise_loudness(wav, target)
                attrs["mix"] = mix
            caption = make_caption(
                attrs, np.random.default_rng([task.seed, plan.composition, plan.variant, 2])
            )
            rel = clip_path(plan.index)
            save_audio(out_dir / rel, wav, overwrite=True, subtype="PCM_16")
            records.append(
                {
                    "path": rel,
                    "seconds": task.seconds,
                    "caption": caption,
                    "split": split_for(attrs["composition_id"]),
                    "attributes": attrs,
                    "index": plan.index,
                    "fingerprint": task.fingerprints[plan.index],
                    # exact control labels; metadata only: the audio is as without them
                    "labels": labels(start),
                }
            )
            seconds += task.seconds
        except Exception as e:  # noqa: BLE001 - one bad clip never ends the run
            errors.append(f"clip {plan.index} failed: {type(e).__name__}: {e}")
    return _Result(records, errors, seconds)


def _existing(
    out_dir: Path, expected: dict[int, str], num_samples: int
) -> dict[int, dict[str, Any]]:
    """Manifest records (finished or partial) with a complete file and a matching fingerprint."""
    import soundfile as sf

    found: dict[int, dict[str, Any]] = {}
    for name in (METADATA, PARTIAL):
        try:
            recs = read_metadata(out_dir / name, missing_ok=True)
        except Jen1Error:
            continue  # an unreadable manifest: render again
        for r in recs:
            i = r.get("index")
            if (
                isinstance(i, int)
                and expected.get(i) == r.get("fingerprint")
                and r["path"] == clip_path(i)
            ):
                found[i] = r
    ok = {}
    for i, r in found.items():
        try:
            if sf.info(str(out_dir / r["path"])).frames == num_samples:
                ok[i] = r
        except (OSError, RuntimeError):  # unreadable: render it again
            continue
    return ok


def synthesize_corpus(
    out_dir: Path,
    *,
    clips: int,
    seconds: float = 10.0,
    seed: int = 0,
    workers: int = 1,
    soundfont: Path | None = None,
    progress: bool = True,
    music21_share: float = 0.25,
    drum_kits: tuple[Path, ...] = (),
    vary: bool = False,
) -> SynthSummary:
    """Render ``clips`` captioned clips of ``seconds`` into ``out_dir`` (see module docstring).

    Args:
        out_dir: output folder (created); existing matching clips are kept, not re-rendered.
        clips: number of clips in the manifest.
        seconds: length of every clip.
        seed: corpus seed; the same seed gives the same files and manifest.
        workers: processes rendering in parallel (each loads the soundfont once).
        soundfont: SF2 file (default ``/usr/share/sounds/sf2/FluidR3_GM.sf2``).
        progress: show a tqdm progress bar.
        music21_share: about this share of clips come from the music21 corpus (0 disables).
        drum_kits: drum-kit SoundFonts (e.g. :data:`jen1.synth.render.AVL_DRUM_KITS`); each
            clip plays its drums from one of them or from the GM font, drawn per clip and
            stored as ``attributes.drum_kit``.
        vary: a random stereo width and spectral tilt per clip (:func:`vary_mix`), stored as
            ``attributes.mix``.

    Raises:
        Jen1Error: bad arguments or a missing/unloadable soundfont.
    """
    t_start = time.perf_counter()
    if clips < 0 or not math.isfinite(seconds) or seconds <= 0 or workers < 1:
        raise Jen1Error("clips must be >= 0, seconds > 0 and workers >= 1")
    soundfont = Path(soundfont) if soundfont is not None else DEFAULT_SOUNDFONT
    if not soundfont.is_file():
        raise Jen1Error(
            f"soundfont not found: {soundfont} "
            "(apt-get install fluid-soundfont-gm, or pass --soundfont)"
        )
    drum_kits = tuple(Path(k) for k in drum_kits)
    for k in drum_kits:
        if not k.is_file():
            raise Jen1Error(
                f"drum kit not found: {k} (apt-get install avldrums.lv2-soundfont)"
            )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    num_samples = round(seconds * SAMPLE_RATE)
    plan = plan_corpus(clips, seed, music21_share)
    fps = {
        p.index: _fingerprint(seed, p.index, seconds, soundfont, music21_share, drum_kits, vary)
        for g in plan
        for p in g
    }
    records = _existing(out_dir, fps, num_samples)
    summary = SynthSummary(out_dir, reused=len(records))
    tasks = []
    for group in plan:
        todo = [p.index for p in group if p.index not in records]
        if todo:
            tasks.append(
                _Task(
                    group,
                    todo,
                    str(out_dir),
                    str(soundfont),
                    seconds,
                    seed,
                    {p.index: fps[p.index] for p in group},
                    tuple(map(str, drum_kits)),
                    vary,
                )
            )
    if tasks:
        _run_tasks(tasks, records, summary, out_dir, workers, progress, clips)
    ordered = [records[i] for i in sorted(records)]
    write_metadata(out_dir, ordered)
    (out_dir / PARTIAL).unlink(missing_ok=True)
    summary.clips = len(ordered)
    summary.audio_seconds = sum(r["seconds"] for r in ordered)
    summary.music21 = sum(r["attributes"]["source"].startswith("music21:") for r in ordered)
    summary.splits = {s: sum(r["split"] == s for r in ordered) for s in ("train", "val", "test")}
    summary.disk_bytes = sum((out_dir / r["path"]).stat().st_size for r in ordered)
    summary.wall_seconds = time.perf_counter() - t_start
    return summary


def _run_tasks(
    tasks: list[_Task],
    records: dict[int, dict[str, Any]],
    summary: SynthSummary,
    out_dir: Path,
    workers: int,
    progress: bool,
    total: int,
) -> None:
    from tqdm import tqdm

    pool = None
    if workers > 1:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)))
        results = pool.imap_unordered(_render_task, tasks)
    else:
        results = map(_render_task, tasks)
    try:
        with (
            (out_dir / PARTIAL).open("a", encoding="utf-8") as partial,
            tqdm(
                total=total, initial=len(records), disable=not progress, unit="clip", desc="synth"
            ) as bar,
        ):
            for res in results:
                for r in res.records:
                    records[r["index"]] = r
                    partial.write(json.dumps(r, ensure_ascii=False) + "\n")
                partial.flush()
                summary.rendered += len(res.records)
                summary.rendered_seconds += res.seconds
                summary.failed += sum(e.startswith("clip ") for e in res.errors)
                summary.errors += res.errors
                bar.update(len(res.records) + sum(e.startswith("clip ") for e in res.errors))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()

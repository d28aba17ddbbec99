"""Real compositions from the music21 corpus (ships offline): Bach chorales, folk tunes, polyphony.

A work is parsed once into a small JSON note list (cached under ``cache_dir``), then arranged
for varied instruments and tempi like the composer's output. The beat is the quarter note, or
the dotted quarter in compound meters (6/8, 9/8, 12/8); ``bpm`` counts those beats. Folk tunes
(a single melody) get a simple accompaniment: per bar, the diatonic triad that best covers the
melody, strummed on the beats, over a bass on the bar's first beat.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from jen1.synth.render import Arrangement, Note, Part
from jen1.synth.styles import GM_NAMES
from jen1.synth.theory import SCALES, Chord, voice_chord
from jen1.fsutil import atomic_write_text

CATEGORIES: dict[str, str] = {  # style name -> corpus path pattern (relative to the corpus root)
    "classical chorale": r"bach/bwv\d+\.\d+\.mxl",
    "folk tune": r"ryansMammoth/.+\.abc",
    "renaissance polyphony": r"(palestrina/.+\.krn|monteverdi/madrigal\..+\.mxl)",
}
CATEGORY_WEIGHTS = {"classical chorale": 0.35, "folk tune": 0.4, "renaissance polyphony": 0.25}
_BPM = {"classical chorale": (60, 96), "folk tune": (96, 172), "renaissance polyphony": (96, 150)}
_BPM_COMPOUND = (84, 126)  # dotted-quarter beats
ENSEMBLES: dict[str, list[tuple[int, ...]]] = {  # parts top to bottom; the last program repeats
    "classical chorale": [
        (19,),
        (40, 40, 41, 42),
        (56, 60, 57, 58),
        (52,),
        (73, 68, 71, 70),
        (0,),
        (48,),
        (68, 19),
        (73, 48),
    ],
    "renaissance polyphony": [
        (52,),
        (74,),
        (40, 41, 42),
        (19,),
        (56, 57, 57, 58),
        (53,),
        (48,),
        (73, 68, 71, 70),
    ],
}
_FOLK_LEADS = (110, 40, 73, 78, 22, 21, 105, 75, 71, 0)
_FOLK_ACCOMP = (25, 0, 46, 21, 24)


@dataclass
class Piece:
    """One parsed work: notes per part as (start, duration, MIDI pitch) in quarter notes."""

    work: str
    parts: list[list[tuple[float, float, int]]]
    meter: str
    beat_ql: float
    bar_ql: float
    tonic: int
    mode: str
    length_ql: float
    bar_offsets: list[float]


@functools.lru_cache(maxsize=1)
def _corpus_paths() -> dict[str, str]:
    from music21 import corpus

    out = {}
    for p in corpus.getPaths():
        p = str(p)
        rel = p.split("/corpus/", 1)[-1]
        out[rel] = p
    return out


@functools.lru_cache(maxsize=1)
def list_works() -> dict[str, tuple[str, ...]]:
    """Category -> sorted corpus-relative work paths (empty when music21 is unavailable)."""
    try:
        paths = _corpus_paths()
    except Exception:  # noqa: BLE001 - music21 missing or broken: the composer alone still works
        return {c: () for c in CATEGORIES}
    return {
        c: tuple(sorted(r for r in paths if re.fullmatch(pat, r))) for c, pat in CATEGORIES.items()
    }


def category_of(work: str) -> str:
    for c, pat in CATEGORIES.items():
        if re.fullmatch(pat, work):
            return c
    raise ValueError(f"not a known music21 work: {work}")


def _parse(work: str) -> Piece:
    from music21 import corpus, harmony, stream

    score = corpus.parse(_corpus_paths()[work], forceSource=True)
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    parts = []
    for part in score.parts:
        notes: list[list[float]] = []
        open_ties: dict[int, list[float]] = {}  # pitch -> [start, duration, pitch] still tied on
        for n in part.flatten().notes:  # stripTies() is slow; ties are merged here instead
            if isinstance(n, harmony.Harmony) or float(n.quarterLength) <= 0:
                continue
            start, dur = float(n.offset), float(n.quarterLength)
            tie = n.tie.type if n.tie is not None else None
            for p in n.pitches:
                held = open_ties.pop(int(p.midi), None)
                if held is not None and abs(held[0] + held[1] - start) < 1e-3:
                    held[1] += dur
                else:
                    held = [start, dur, int(p.midi)]
                    notes.append(held)
                if tie in ("start", "continue"):
                    open_ties[int(p.midi)] = held
        if notes:
            parts.append([(s, d, int(m)) for s, d, m in sorted(notes)])
    if not parts:
        raise ValueError("no notes")
    ts = score.recurse().getElementsByClass("TimeSignature").first()
    meter = ts.ratioString if ts is not None else "4/4"
    num, den = (int(x) for x in meter.split("/")) if re.fullmatch(r"\d+/\d+", meter) else (4, 4)
    bar_ql = num * 4.0 / den
    beat_ql = 1.5 if den == 8 and num % 3 == 0 else 1.0
    key = score.analyze("key")
    measures = score.parts[0].getElementsByClass("Measure")
    bar_offsets = sorted({float(m.offset) for m in measures}) or [0.0]
    length = max(s + d for notes in parts for s, d, _ in notes)
    return Piece(
        work,
        parts,
        meter,
        beat_ql,
        bar_ql,
        int(key.tonic.pitchClass),
        "minor" if key.mode == "minor" else "major",
        float(length),
        bar_offsets,
    )


def load_piece(work: str, cache_dir: Path | None = None) -> Piece:
    """Parse ``work`` (corpus-relative path), through a JSON cache in ``cache_dir`` if given.

    Raises whatever music21 raises for a work it cannot parse; callers skip such works.
    """
    cache = cache_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", work) + ".json") if cache_dir else None
    if cache is not None and cache.exists():
        try:
            d = json.loads(cache.read_text())
            d["parts"] = [[tuple(n) for n in notes] for notes in d["parts"]]
            return Piece(**d)
        except (OSError, ValueError, TypeError):
            pass  # re-parse a broken cache entry
    piece = _parse(work)
    if cache is not None:
        atomic_write_text(cache, json.dumps(asdict(piece)))
    return piece


def _best_triad(pitches: list[tuple[int, float]], tonic: int, mode: str) -> Chord:
    """The diatonic triad covering most of the melody's duration (ties: I, V, IV, ...)."""
    degrees = (0, 4, 3, 5, 1, 2) if mode == "major" else (0, 4, 3, 5, 2, 6)
    best, best_score = None, -1.0
    for deg in degrees:
        scale = SCALES[mode]
        root = (tonic + scale[deg]) % 12
        third = (tonic + scale[(deg + 2) % 7]) % 12
        fifth = (tonic + scale[(deg + 4) % 7]) % 12
        if mode == "minor" and deg == 4:
            third = (third + 1) % 12  # major dominant
        pcs = {root, third, fifth}
        score = sum(d for p, d in pitches if p % 12 in pcs)
        if score > best_score + 1e-6:
            best, best_score = Chord(root, (0, (third - root) % 12, (fifth - root) % 12)), score
    assert best is not None
    return best


def _accompaniment(piece: Piece, rng: np.random.Generator) -> tuple[list[Note], list[Note]]:
    """Chords on each beat and a bass on each bar's first beat, from the melody (part 0)."""
    melody = piece.parts[0]
    chords, bass = [], []
    prev = None
    offsets = piece.bar_offsets + [piece.length_ql]
    for a, b in itertools.pairwise(offsets):
        inside = [(p, min(s + d, b) - max(s, a)) for s, d, p in melody if s < b and s + d > a]
        if not inside:
            continue
        chord = _best_triad(inside, piece.tonic, piece.mode)
        prev = voice_chord(chord, 52, 72, prev, rng, max_notes=3)
        beat = a
        while beat < b - 1e-6:
            dur = min(piece.beat_ql, b - beat)
            chords += [Note(p, beat, dur * 0.9, 0) for p in prev]
            beat += piece.beat_ql
        root = 36 + (chord.root - 36) % 12
        bass.append(Note(root, a, (b - a) * 0.9, 0))
    return chords, bass


def arrange_piece(
    piece: Piece, seed: int | np.random.SeedSequence, *, variant_seed: int | np.random.SeedSequence
) -> tuple[Arrangement, str, int]:
    """Arrange ``piece`` for a random ensemble and tempo; returns (arrangement, style, bpm).

    ``seed`` fixes what the composition shares (tempo); ``variant_seed`` the instrumentation.
    Times of the arrangement are in beats (``piece.beat_ql`` quarter notes).
    """
    style = category_of(piece.work)
    rng = np.random.default_rng(seed)
    lo, hi = _BPM_COMPOUND if piece.beat_ql == 1.5 else _BPM[style]
    bpm = int(rng.integers(lo, hi + 1))
    vr = np.random.default_rng(variant_seed)
    voices: list[tuple[str, list[tuple[float, float, int]]]] = []
    if style == "folk tune":
        lead = int(vr.choice(_FOLK_LEADS))
        voices.append(("melody", piece.parts[0]))
        programs = [lead]
        if vr.random() < 0.7:
            chords, bass = _accompaniment(piece, vr)
            voices.append(("chords", [(n.start, n.dur, n.pitch) for n in chords]))
            programs.append(int(vr.choice(_FOLK_ACCOMP)))
            if vr.random() < 0.5:
                voices.append(("bass", [(n.start, n.dur, n.pitch) for n in bass]))
                programs.append(32)
    else:
        ens = ENSEMBLES[style][int(vr.integers(len(ENSEMBLES[style])))]
        voices = [(f"voice{i}", notes) for i, notes in enumerate(piece.parts)]
        programs = [ens[min(i, len(ens) - 1)] for i in range(len(voices))]
    base = float(vr.uniform(60, 95))
    wet = float(vr.uniform(0.15, 0.35)) if style != "folk tune" else float(vr.uniform(0.05, 0.25))
    parts = []
    n = len(voices)
    for i, ((role, notes), prog) in enumerate(zip(voices, programs, strict=True)):
        pan = 64 + int((i - (n - 1) / 2) / max(n - 1, 1) * vr.uniform(40, 80)) if n > 1 else 64
        vol = 100 if role in ("melody", "voice0") else 88
        out = []
        for s, d, p in notes:
            beat = s / piece.beat_ql
            phrase = 0.9 + 0.1 * np.sin(2 * np.pi * beat / 16)  # gentle phrase-level swells
            vel = base * phrase * (1.08 if (s % piece.bar_ql) < 1e-6 else 1.0) + vr.normal(0, 4)
            out.append(
                Note(p, beat, max(d / piece.beat_ql * 0.95, 0.05), int(np.clip(vel, 1, 127)))
            )
        parts.append(Part(GM_NAMES.get(prog, "synth"), prog, out, pan=pan, volume=vol, role=role))
    arr = Arrangement(
        parts,
        float(bpm),
        piece.length_ql / piece.beat_ql,
        reverb_wet=wet,
        reverb_seconds=float(vr.uniform(1.2, 2.8)),
    )
    return arr, style, bpm


def loop_arrangement(arr: Arrangement, min_beats: float) -> Arrangement:
    """Repeat a short arrangement end to end until it lasts ``min_beats``."""
    if arr.length_beats >= min_beats:
        return arr
    times = int(np.ceil(min_beats / arr.length_beats))
    for part in arr.parts:
        part.notes = [
            Note(n.pitch, n.start + k * arr.length_beats, n.dur, n.velocity)
            for k in range(times)
            for n in part.notes
        ]
    arr.length_beats *= times
    return arr

"""Seeded composer: style, key, tempo, chords, bass, melody and drums -> an :class:`Arrangement`.

:func:`compose` draws the music of one composition from a seed (the style table in
:mod:`jen1.synth.styles`): a diatonic progression, voice-led chord patterns, a bass line, a
motif-based melody on chord tones with passing notes, style drum patterns with fills, swing and a
dynamics curve. :func:`orchestrate` then picks GM instruments, panning and balance for one
rendering of it, so one composition can yield several clips with different instrumentation.
All times are in beats.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from jen1.synth.render import Arrangement, Note, Part
from jen1.synth.styles import (
    BASSES,
    COMPS,
    DRUM_KEYS,
    DRUMS,
    GM_NAMES,
    HAND_PERCUSSION,
    KIT_NAMES,
    LOW_LEADS,
    STYLES,
    StyleSpec,
)
from jen1.synth.theory import (
    BLUES,
    PENTATONIC,
    SCALES,
    Chord,
    nearest_note,
    parse_progression,
    voice_chord,
)

REGISTERS = {  # role -> (low, high) MIDI notes
    "melody": (62, 86),
    "chords": (50, 74),
    "pad": (50, 76),
    "arp": (60, 86),
    "counter": (55, 72),
    "bass": (28, 52),
}
DRUM_VELOCITY = {"X": 112, "x": 88, "o": 50}
BRIGHT_MOODS = frozenset(
    {
        "sunny",
        "cheerful",
        "feel-good",
        "uplifting",
        "bright",
        "euphoric",
        "playful",
        "joyful",
        "rollicking",
        "catchy",
        "radio-friendly",
    }
)
MINOR_MOODS = ("melancholic", "moody", "wistful", "brooding", "dark")


@dataclass
class Composition:
    """The music of one composition, before orchestration (times in beats)."""

    style: StyleSpec
    tonic: int
    mode: str
    bpm: int
    beats_per_bar: int
    bars: int
    chords: list[tuple[float, float, Chord]]
    lines: dict[str, list[Note]]  # role -> notes (drums: GM drum keys)
    drum_names: list[str] = field(default_factory=list)  # drums used ("kick", "shaker", ...)
    ensemble: dict[str, tuple[int, ...]] = field(default_factory=dict)
    mood: str = ""
    reverb: tuple[float, float] = (0.0, 1.5)  # (wet, rt60)

    @property
    def length_beats(self) -> float:
        return float(self.bars * self.beats_per_bar)


def _dynamics(rng: np.random.Generator, total: float):
    """A velocity factor over time (beats): flat, crescendo, decrescendo, swell or terraced."""
    kind = rng.choice(["flat", "crescendo", "decrescendo", "swell", "terraced"])
    depth = rng.uniform(0.1, 0.3)
    phase = rng.uniform(0, 2 * math.pi)
    levels = rng.uniform(1 - depth, 1 + depth / 2, size=64)

    def f(t: float) -> float:
        x = t / max(total, 1e-6)
        if kind == "crescendo":
            return 1 - depth + depth * x * 1.3
        if kind == "decrescendo":
            return 1 + depth * 0.3 - depth * x
        if kind == "swell":
            return 1 - depth / 2 + depth / 2 * math.sin(2 * math.pi * x * 1.5 + phase)
        if kind == "terraced":
            return float(levels[int(t // 16) % 64])
        return 1.0

    return f


def _chord_at(chords: list[tuple[float, float, Chord]], t: float) -> int:
    for i, (s, d, _) in enumerate(chords):
        if s <= t + 1e-6 < s + d:
            return i
    return len(chords) - 1


def _pattern_span(events: list, bpb: int) -> int:
    return max(1, math.ceil((max(e[0] for e in events) + 1e-6) / bpb))


def _comp_line(
    comp: Composition, name: str, role: str, base_vel: float, dyn, rng: np.random.Generator
) -> list[Note]:
    """Chords played with a comp pattern (block, strum, power, arp, alberti, boogie or stab)."""
    _, mode, events = COMPS[name]
    bpb, lo, hi = comp.beats_per_bar, *REGISTERS[role]
    span = _pattern_span(events, bpb)
    notes: list[Note] = []
    voicings: dict[int, list[int]] = {}
    prev: list[int] | None = None
    sec_per_beat = 60.0 / comp.bpm
    for bar in range(0, comp.bars, span):
        for k, (onset, dur, vs) in enumerate(events):
            t = bar * bpb + onset
            if t >= comp.length_beats:
                continue
            ci = _chord_at(comp.chords, t)
            c_start, c_dur, chord = comp.chords[ci]
            if ci not in voicings:
                voicings[ci] = prev = voice_chord(chord, lo, hi, prev, rng)
            v = voicings[ci]
            dur = min(dur, c_start + c_dur - t) if mode in ("block", "stab", "power") else dur
            vel = base_vel * vs * dyn(t) + rng.normal(0, 4)
            if mode == "power":
                root = nearest_note(chord.root, 45, 40, 52)
                notes += [Note(p, t, dur, int(vel)) for p in (root, root + 7, root + 12)]
            elif mode == "boogie":
                root = nearest_note(chord.root, 47, 42, 54)
                upper = 7 if (k // 2) % 2 == 0 else 9
                notes += [Note(root, t, dur, int(vel)), Note(root + upper, t, dur, int(vel * 0.9))]
            elif mode in ("arp", "alberti"):
                if mode == "alberti":
                    idx = [0, len(v) - 1, 1 if len(v) > 2 else 0, len(v) - 1][k % 4]
                else:
                    cycle = list(range(len(v))) + list(range(len(v) - 2, 0, -1))
                    idx = cycle[k % len(cycle)]
                notes.append(Note(v[idx], t, dur, int(vel)))
            elif mode == "strum":
                down = vs >= 0.8
                order = v if down else v[::-1]
                gap = rng.uniform(0.008, 0.02) / sec_per_beat
                notes += [
                    Note(p, t + i * gap, max(dur - i * gap, 0.05), int(vel * (1 - 0.04 * i)))
                    for i, p in enumerate(order)
                ]
            else:  # block, stab
                notes += [Note(p, t, dur, int(vel)) for p in v]
    return notes


def _pad_line(comp: Composition, base_vel: float, dyn, rng: np.random.Generator) -> list[Note]:
    """Sustained chords, one voicing per chord, voice-led."""
    notes: list[Note] = []
    prev = None
    lo, hi = REGISTERS["pad"]
    for s, d, chord in comp.chords:
        prev = voice_chord(chord, lo, hi, prev, rng)
        notes += [Note(p, s, d * 0.98, int(base_vel * dyn(s))) for p in prev]
    return notes


def _counter_line(comp: Composition, base_vel: float, dyn, rng: np.random.Generator) -> list[Note]:
    """An inner voice in half-bar notes on chord tones, moving as little as possible."""
    lo, hi = REGISTERS["counter"]
    cur = (lo + hi) / 2
    notes = []
    step = comp.beats_per_bar / (2 if comp.beats_per_bar == 4 else 1)
    t = 0.0
    while t < comp.length_beats:
        chord = comp.chords[_chord_at(comp.chords, t)][2]
        cands = [nearest_note(pc, cur, lo, hi) for pc in chord.pcs]
        nxt = min(cands, key=lambda n: abs(n - cur) + rng.uniform(0, 2.5))
        notes.append(Note(nxt, t, step * 0.95, int(base_vel * dyn(t) + rng.normal(0, 3))))
        cur, t = nxt, t + step
    return notes


def _bass_line(
    comp: Composition, name: str, base_vel: float, dyn, rng: np.random.Generator
) -> list[Note]:
    lo, hi = REGISTERS["bass"]
    bpb = comp.beats_per_bar
    notes: list[Note] = []
    prev = 40.0
    if name == "walking":
        scale = [(comp.tonic + s) % 12 for s in SCALES[comp.mode]]
        for beat in range(int(comp.length_beats)):
            ci = _chord_at(comp.chords, beat)
            s, d, chord = comp.chords[ci]
            nxt = comp.chords[(ci + 1) % len(comp.chords)][2]
            if abs(beat - s) < 1e-6:
                n = nearest_note(chord.root, prev, lo + 5, hi - 4)
            elif beat + 1 >= s + d - 1e-6:  # approach the next root chromatically or by step
                target = nearest_note(nxt.root, prev, lo + 5, hi - 4)
                n = target + int(rng.choice([-1, 1, -2, 2], p=[0.35, 0.35, 0.15, 0.15]))
            else:
                pool = [nearest_note(pc, prev, lo, hi) for pc in chord.pcs + scale]
                pool = [p for p in pool if 0 < abs(p - prev) <= 5] or pool
                n = int(rng.choice(pool))
            notes.append(Note(n, float(beat), 0.95, int(base_vel * dyn(beat) + rng.normal(0, 4))))
            prev = n
        return notes
    _, events = BASSES[name]
    span = _pattern_span(events, bpb)
    for bar in range(0, comp.bars, span):
        for onset, dur, tone in events:
            t = bar * bpb + onset
            if t >= comp.length_beats:
                continue
            ci = _chord_at(comp.chords, t)
            chord = comp.chords[ci][2]
            root = nearest_note(chord.root, prev, lo, hi - 12)
            if tone == "R":
                n = root
            elif tone == "5":
                n = root + chord.intervals[2]
            elif tone == "3":
                n = root + chord.intervals[1]
            elif tone == "8":
                n = root + 12
            elif tone == "A":
                nxt = comp.chords[(ci + 1) % len(comp.chords)][2]
                n = nearest_note(nxt.root, root, lo, hi) + int(rng.choice([-1, 1]))
            else:
                n = root + int(tone)
            vel = base_vel * dyn(t) * (1.0 if onset == 0 else 0.88) + rng.normal(0, 4)
            notes.append(Note(n, t, dur, int(vel)))
            prev = root if tone == "R" else prev
    return notes


def _melody_pcs(comp: Composition, chord: Chord) -> list[int]:
    """Allowed pitch classes for the melody over ``chord``: the style scale adapted to the chord."""
    kind = comp.style.melody_scale
    if kind == "blues":
        base = BLUES
    elif kind == "pentatonic":
        base = PENTATONIC[comp.mode]
    else:
        base = SCALES[comp.mode]
    allowed = {(comp.tonic + s) % 12 for s in base}
    cpcs = set(chord.pcs)
    for pc in cpcs - allowed:
        if kind == "diatonic":  # altered chord tone replaces its diatonic neighbour
            allowed -= {n for n in ((pc + 1) % 12, (pc - 1) % 12) if n not in cpcs}
        allowed.add(pc)
    return sorted(allowed)


def _rhythm(rng: np.random.Generator, beats: float, grid: float, density: float) -> list[float]:
    onsets = []
    for i in range(round(beats / grid)):
        pos = i * grid
        on_beat = abs(pos - round(pos)) < 1e-6
        p = 0.9 if i == 0 else density * (1.4 if on_beat else 0.75)
        if rng.random() < min(p, 0.95):
            onsets.append(pos)
    return onsets or [0.0]


def _melody_line(comp: Composition, base_vel: float, dyn, rng: np.random.Generator) -> list[Note]:
    """4-bar phrases (motif, varied repeat, cadence): chord tones on strong beats, steps between."""
    st, bpb = comp.style, comp.beats_per_bar
    lo, hi = REGISTERS["melody"]
    bar_beats = float(bpb)
    grid = st.melody_grid
    motifs = [_rhythm(rng, 2 * bar_beats, grid, st.melody_density) for _ in range(2)]
    onsets: list[float] = []
    for k, p0 in enumerate(range(0, comp.bars, 4)):
        if p0 > 0 and rng.random() < 0.15:  # a phrase of rest now and then
            continue
        motif = motifs[1 if k % 4 == 2 else 0]  # A A B A
        var = [o for o in motif if o < bar_beats and (o == 0 or rng.random() > 0.15)]
        cadence = [0.0] if rng.random() < 0.5 else [0.0, float(bpb // 2)]
        phrase = motif + [2 * bar_beats + o for o in var] + [3 * bar_beats + o for o in cadence]
        onsets += [p0 * bar_beats + o for o in phrase if p0 * bar_beats + o < comp.length_beats]
    onsets = sorted({round(o, 4) for o in onsets})
    notes: list[Note] = []
    cur = float(nearest_note(comp.tonic, (lo + hi) / 2, lo, hi))
    direction = 1
    strong_beats = (0, 2) if bpb == 4 else (0,)
    for i, t in enumerate(onsets):
        nxt_t = onsets[i + 1] if i + 1 < len(onsets) else t + bar_beats
        phrase_end = (
            math.floor(nxt_t / (4 * bar_beats)) > math.floor(t / (4 * bar_beats))
            or nxt_t - t >= bar_beats
        )
        dur = min(nxt_t - t, 2 * bar_beats)
        chord = comp.chords[_chord_at(comp.chords, t)][2]
        pcs = _melody_pcs(comp, chord)
        scale_notes = [n for n in range(lo, hi + 1) if n % 12 in pcs]
        strong = abs(t - round(t)) < 1e-6 and (round(t) % bpb in strong_beats or dur >= 1)
        if strong or phrase_end or not notes:
            target = cur + direction * rng.choice([0, 1, 2, 3, 4])
            tones = [n for n in scale_notes if n % 12 in chord.pcs]
            if phrase_end and rng.random() < 0.6:
                tones = [n for n in tones if n % 12 == chord.root] or tones
            n = min(tones, key=lambda x: abs(x - target) + rng.uniform(0, 2))
        else:
            idx = int(np.argmin([abs(x - cur) for x in scale_notes]))
            move = int(rng.choice([1, 0, 2], p=[0.75, 0.12, 0.13]))
            idx = min(max(idx + direction * move, 0), len(scale_notes) - 1)
            n = scale_notes[idx]
        if n >= hi - 2 or n <= lo + 2 or rng.random() < 0.2:
            direction = -1 if n > (lo + hi) / 2 else 1
        accent = 1.08 if strong else 0.94
        notes.append(
            Note(int(n), t, dur * 0.92, int(base_vel * dyn(t) * accent + rng.normal(0, 5)))
        )
        cur = float(n)
    return notes


def _drum_line(
    comp: Composition, name: str, base_vel: float, dyn, rng: np.random.Generator
) -> tuple[list[Note], list[str]]:
    """Pattern hits plus fills before phrase starts and crashes on them (kit patterns only)."""
    bpb = comp.beats_per_bar
    _, pattern = DRUMS[name]
    kit = not set(pattern) <= HAND_PERCUSSION | {"kick"}
    notes: list[Note] = []
    used = set(pattern)
    for bar in range(comp.bars):
        fill = kit and bar % 4 == 3 and (bar % 8 == 7 or rng.random() < 0.4)
        fill_from = bpb - (2 if rng.random() < 0.4 else 1)
        for drum, steps in pattern.items():
            span = len(steps) // (4 * bpb)  # bars in the pattern
            for i in range(4 * bpb):
                ch = steps[(bar % span) * 4 * bpb + i]
                t = bar * bpb + i / 4
                if ch == "." or (fill and i / 4 >= fill_from):
                    continue
                if drum in ("snare", "rim") and ch == "o" and rng.random() < 0.3:
                    continue
                vel = DRUM_VELOCITY[ch] * base_vel / 100 * dyn(t) + rng.normal(0, 5)
                notes.append(Note(DRUM_KEYS[drum], t, 0.25, int(vel)))
        if fill:
            toms = rng.random() < 0.5
            n_steps = int((bpb - fill_from) * 4)
            for i in range(n_steps):
                if rng.random() < 0.15 and i != 0:
                    continue
                key = DRUM_KEYS[
                    ["tom_hi", "tom_mid", "tom_lo"][min(2, 3 * i // n_steps)] if toms else "snare"
                ]
                vel = (70 + 40 * i / n_steps) * base_vel / 100
                notes.append(Note(key, bar * bpb + fill_from + i / 4, 0.25, int(vel)))
            used |= {"tom_hi", "tom_mid", "tom_lo"} if toms else {"snare"}
        if kit and bar % 8 == 0 and bar > 0 or (kit and bar == 0 and rng.random() < 0.5):
            notes.append(Note(DRUM_KEYS["crash"], bar * bpb, 1.0, int(100 * base_vel / 100)))
            used.add("crash")
        if "ride" in pattern and rng.random() < 0.1:  # jazz: an occasional snare comp
            notes.append(
                Note(DRUM_KEYS["snare"], bar * bpb + rng.choice([1.5, 2.5, 3.5]) % bpb, 0.25, 55)
            )
    return notes, sorted(used)


def _fitting(table: dict, names: tuple[str, ...], *, bpb: int) -> list[str]:
    """The pattern names of ``names`` written for ``bpb`` beats per bar."""
    return [n for n in names if table[n][0] == bpb]


def _swing(t: float, ratio: float) -> float:
    """Move off-beat eighths (and sixteenths within them) to a ``ratio`` swing feel."""
    beat = math.floor(t + 1e-9)
    frac = t - beat
    if frac < 0.5:
        return beat + frac * ratio / 0.5
    return beat + ratio + (frac - 0.5) * (1 - ratio) / 0.5


def compose(seed: int | np.random.SeedSequence, style: str | None = None) -> Composition:
    """Draw one composition: style (uniform unless given), key, tempo, progression and parts."""
    rng = np.random.default_rng(seed)
    names = sorted(STYLES)
    spec = STYLES[style] if style else STYLES[names[int(rng.integers(len(names)))]]
    mode = "minor" if rng.random() < spec.minor_prob else "major"
    tonic = int(rng.integers(12))
    bpm = int(rng.integers(spec.bpm[0], spec.bpm[1] + 1))
    bpb = int(rng.choice(spec.meters))
    bpc = int(rng.choice(spec.bars_per_chord))
    prog_text = str(rng.choice(spec.minor if mode == "minor" else spec.major))
    one = parse_progression(prog_text, tonic, mode, bpb, bpc)
    prog_beats = one[-1][0] + one[-1][1]
    bars = max(16, 4 * math.ceil(round(prog_beats / bpb) / 4))
    bars = int(4 * math.ceil(max(bars, 28 * bpm / 60 / bpb) / 4))  # at least ~28 s of music
    chords = [
        (s + k * prog_beats, d, c)
        for k in range(math.ceil(bars * bpb / prog_beats))
        for s, d, c in one
    ]
    chords = [c for c in chords if c[0] < bars * bpb]
    ensemble = spec.ensembles[int(rng.integers(len(spec.ensembles)))]
    comp = Composition(spec, tonic, mode, bpm, bpb, bars, chords, {}, ensemble=ensemble)
    moods = [m for m in spec.moods if mode == "major" or m not in BRIGHT_MOODS]
    moods += list(MINOR_MOODS) if mode == "minor" else []
    comp.mood = str(rng.choice(moods)) if moods else ""
    comp.reverb = (
        float(rng.uniform(*spec.reverb)) if rng.random() < 0.85 else 0.0,
        float(rng.uniform(*spec.rt60)),
    )
    base = float(rng.uniform(*spec.velocity))
    dyn = _dynamics(rng, comp.length_beats)
    fits = functools.partial(_fitting, bpb=bpb)
    roles = [r for r, p in spec.roles.items() if r in ensemble and rng.random() < p]
    if not any(r in roles for r in ("chords", "pad")):
        roles.append("chords" if "chords" in ensemble else "pad")
    for role in roles:
        if role == "chords":
            pool = fits(COMPS, spec.comp) or fits(COMPS, ("quarters", "waltz_pah"))
            comp.lines[role] = _comp_line(
                comp, str(rng.choice(pool)), "chords", base * 0.85, dyn, rng
            )
        elif role == "arp":
            pool = fits(COMPS, spec.arp) or fits(COMPS, ("arp8", "waltz_arp"))
            comp.lines[role] = _comp_line(comp, str(rng.choice(pool)), "arp", base * 0.75, dyn, rng)
        elif role == "pad":
            comp.lines[role] = _pad_line(comp, base * 0.7, dyn, rng)
        elif role == "counter":
            comp.lines[role] = _counter_line(comp, base * 0.75, dyn, rng)
        elif role == "bass":
            pool = [
                b for b in spec.bass if b == "walking" and bpb == 4 or BASSES[b][0] == bpb
            ] or fits(BASSES, ("root_half", "waltz"))
            comp.lines[role] = _bass_line(comp, str(rng.choice(pool)), base * 0.95, dyn, rng)
        elif role == "melody":
            comp.lines[role] = _melody_line(comp, base, dyn, rng)
        elif role == "drums":
            pool = fits(DRUMS, spec.drums)
            if pool:
                comp.lines[role], comp.drum_names = _drum_line(
                    comp, str(rng.choice(pool)), base, dyn, rng
                )
    ratio = float(rng.uniform(*spec.swing))
    jitter = 0.006 * bpm / 60  # ~6 ms of timing humanisation, in beats
    for notes in comp.lines.values():
        for n in notes:
            end = n.start + n.dur
            if ratio > 0.5:
                n.start, end = _swing(n.start, ratio), _swing(end, ratio)
            n.start = max(0.0, n.start + float(rng.normal(0, jitter)))
            n.dur = max(0.05, end - n.start)
            n.velocity = int(min(127, max(1, n.velocity)))
    return comp


def _drum_display(comp: Composition, kit: int) -> str:
    if set(comp.drum_names) <= HAND_PERCUSSION | {"kick"}:
        if set(comp.drum_names) == {"shaker"}:
            return "shaker"
        return (
            "tambourine"
            if "tamb" in comp.drum_names and "shaker" not in comp.drum_names
            else "percussion"
        )
    return KIT_NAMES.get(kit, "drums")


def orchestrate(comp: Composition, rng: np.random.Generator) -> Arrangement:
    """Pick GM programs (from the ensemble pools), pan and volume for each part of ``comp``."""
    parts: list[Part] = []
    sides = list(rng.permutation([-1, 1]))
    for role, notes in comp.lines.items():
        if not notes:
            continue
        program = int(rng.choice(comp.ensemble[role]))
        shift = -12 if role == "melody" and program in LOW_LEADS else 0
        if role == "drums":
            name, pan, vol = _drum_display(comp, program), 64, rng.integers(95, 115)
        else:
            name = GM_NAMES.get(program, "synth")
            if role in ("bass", "melody", "pad"):
                pan = 64 + int(rng.normal(0, 8))
            else:
                side = sides.pop() if sides else int(rng.choice([-1, 1]))
                pan = 64 + side * int(rng.integers(18, 45))
            vol = {"bass": 100, "melody": 105, "chords": 88, "pad": 72, "arp": 80, "counter": 85}[
                role
            ] + rng.integers(-8, 9)
        expression: list[tuple[float, int]] = []
        if role == "pad":  # slow swells per chord
            for s, d, _ in comp.chords:
                expression += [(s, 80), (s + d * 0.5, 120), (s + d * 0.95, 95)]
        parts.append(
            Part(
                name=name,
                program=program,
                is_drum=role == "drums",
                pan=int(pan),
                volume=int(vol),
                role=role,
                notes=[Note(n.pitch + shift, n.start, n.dur, n.velocity) for n in notes],
                expression=expression,
            )
        )
    order = {"melody": 0, "chords": 1, "pad": 2, "arp": 3, "counter": 4, "bass": 5, "drums": 6}
    parts.sort(key=lambda p: order.get(p.role, 9))
    return Arrangement(
        parts,
        float(comp.bpm),
        comp.length_beats,
        reverb_wet=comp.reverb[0],
        reverb_seconds=comp.reverb[1],
    )

"""Find musical controls in the words of a prompt (:func:`find_controls`).

What is read, in the usual wordings (and in those of the corpus captions,
:mod:`jen1.synth.captions`):

- tempo: "120 BPM", "120bpm", "120-bpm", "bpm: 120", "at a tempo of 120", "tempo 120",
  "120 beats per minute", "♩ = 120"; a range ("100-110 BPM") gives its middle;
- key: "in D minor", "F# major", "C sharp minor", "B-flat major", "in the key of Eb", "in Dm",
  "in Bb", "key: Am", "Key of E"; "a minor-key ballad" gives the mode alone;
- meter: "in 3/4", "6/8 time", "a 7/8 groove", "time signature 5/4", "the 4/4 kick" (a common
  meter needs no cue unless it reads as a fraction: "3/4 of the way"; "in 11/8" needs one),
  "waltz"/"waltz time" (3/4), "common time" (4/4), "cut time" (2/2);
- chords: "chords Am F C G", "chord progression: Am - F - C - G", "| Am F | C G |".

Numbers need a unit or a cue word, and key letters must be capitals, so "Summer of 69",
"a 909 drum machine", "2 guitars", "the 80s", "Opus 3", "track 12", "a major hit" and "key lime
pie" give nothing.
"""

from __future__ import annotations

import re

from jen1.conditioning.controls import (
    BPM_RANGE,
    ControlError,
    Controls,
    parse_chord,
    parse_key,
    parse_meter,
)

_NUM = r"(\d{1,4}(?:\.\d+)?)"
_RANGE = rf"{_NUM}(?:\s*(?:-|–|to)\s*{_NUM})?"
_BPM_UNIT = r"(?:bpm|b\.p\.m\.?|beats?\s+(?:per|a)\s+minute)"
_BPM_PATTERNS = (
    re.compile(rf"(?<![\w.#/]){_RANGE}\s*-?\s*{_BPM_UNIT}(?!\w)", re.I),
    re.compile(rf"\b(?:bpm|tempo)\s*(?:of|at|is|=|:|≈|~)?\s*(?:about\s+|around\s+|~\s*)?{_RANGE}"
               rf"(?![\w/.%:]|\s*(?:%|percent|minutes?|min|seconds?|sec|s\b))", re.I),
    re.compile(rf"(?:♩|quarter(?:\s+note)?|\bq)\s*=\s*{_NUM}(?![\w.])", re.I),
)  # fmt: skip

_ACC = r"(?:#|♯|b|♭|-sharp|-flat|\s+sharp|\s+flat)"
_MODE = r"(?:major|minor|maj|min)"
# "D minor", "F# major", "C sharp minor", "d minor" (not "a minor": the article).
_KEY_MODE_RE = re.compile(rf"(?<![\w#/])([A-G]|[b-g]){_ACC}?\s*-?\s*{_MODE}(?![\w-])")
# "in Dm", "in Bb", "key of Eb", "key: Am": a cue word, then a symbol.
_KEY_CUE_RE = re.compile(
    rf"\b(?i:in(?:\s+the)?(?:\s+key\s+of)?|key(?:\s+of|\s*:|\s*=)?)\s+([A-G]{_ACC}?m?)"
    r"(?![\w#♯♭/'’-])"
)
_MODE_ONLY_RE = re.compile(r"\b(major|minor)[- ](?:key|mode|tonality|scale)\b", re.I)
_SENTENCE_START = re.compile(r"(?:^|[.!?;:\n]\s*)$")

_METER_RE = re.compile(r"(?<![\w/.])(\d{1,2})\s*/\s*(\d{1,2})(?![\w/.])")
_METER_BEFORE = re.compile(
    r"(?:\bin|\btime\s+signature(?:\s+of)?|\bmeter(?:\s+of)?|\bmetre(?:\s+of)?|\bsignature)"
    r"\s*:?\s*(?:a\s+)?$",
    re.I,
)
_METER_AFTER = re.compile(
    r"^\s*-?\s*(?:time|meter|metre|signature|waltz|feel|groove|beat|rhythm|bars?|measures?)\b",
    re.I,
)
_COMMON_METERS = frozenset(
    {(2, 2), (3, 2), (2, 4), (3, 4), (4, 4), (5, 4), (6, 4), (7, 4), (9, 4), (12, 4)}
    | {(3, 8), (5, 8), (6, 8), (7, 8), (9, 8), (12, 8)}
)
_METER_WORD_RE = re.compile(r"\b(common time|cut time|waltz(?:es|ing)?|triple (?:time|meter))\b",
                            re.I)  # fmt: skip

_CHORD_CUE_RE = re.compile(
    r"\b(?:chords?(?:\s+progression)?|progression|changes)(?:\s+(?:of|is|are|like))?\s*[:=]?\s*",
    re.I,
)
# A chord symbol; a "-" is part of it ("C-7") unless a chord letter follows ("Am-F-C-G").
_CHORD_TOKEN = re.compile(
    r"[A-G](?:#|♯|b|♭)?(?:[A-Za-z0-9#♯♭°øΔ+()]|-(?![A-G]))*(?:/[A-G](?:#|♯|b|♭)?)?"
)
_CHORD_SEP = re.compile(r"\s*(?:,|\||->|→|–|-|\band\b|\bthen\b)\s*|\s+")
_BAR_RUN_RE = re.compile(r"\|(?:\s*[A-G][^|]*\|)+(?:\s*[A-G][^|.;]*)?")


def _find_bpm(text: str, strict: bool) -> float | None:
    for pat in _BPM_PATTERNS:
        m = pat.search(text)
        if not m:
            continue
        lo = float(m.group(1))
        hi = float(m.group(2)) if m.re.groups > 1 and m.group(2) else lo
        bpm = (lo + hi) / 2
        if BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
            return bpm
        if strict:
            raise ControlError("bpm", m.group(0).strip(), "(from the prompt) is out of range")
        return None
    return None


def _find_key(text: str) -> tuple[str | None, str | None]:
    for m in _KEY_MODE_RE.finditer(text):
        letter = m.group(1)
        if letter == "A" and _SENTENCE_START.search(text[: m.start()]):
            # "A major hit", "A minor-key ballad": the article, unless the words end there
            rest = text[m.end() :]
            if not re.match(r"\s*(?:$|[,.;:!?)]|key\b)", rest):
                continue
        tonic, mode = parse_key(m.group(0))
        return tonic, mode
    m = _KEY_CUE_RE.search(text)
    if m:
        return parse_key(m.group(1))
    m = _MODE_ONLY_RE.search(text)
    if m:
        return None, m.group(1).lower()
    return None, None


def _find_meter(text: str) -> tuple[int, int] | None:
    for m in _METER_RE.finditer(text):
        num, den = int(m.group(1)), int(m.group(2))
        if den not in (2, 4, 8, 16) or not 1 <= num <= 16:
            continue
        cued = _METER_BEFORE.search(text[: m.start()]) or _METER_AFTER.match(text[m.end() :])
        # A common meter is one unless it reads as a fraction ("3/4 of the way"); other
        # numbers need a cue word ("in 11/8", "13/16 time").
        fraction = re.match(r"\s+(?:of|the|a|an|cups?|speed|volume)\b", text[m.end() :], re.I)
        if cued or ((num, den) in _COMMON_METERS and not fraction):
            return num, den
    m = _METER_WORD_RE.search(text)
    if m:
        word = m.group(1).lower()
        return parse_meter("waltz" if word.startswith("waltz") else word)
    return None


def _chord_run(text: str, pos: int) -> tuple[list[str], int]:
    """Chord symbols from ``pos`` up to the first word that is not one, and where they end."""
    out, end = [], pos
    while True:
        m = _CHORD_TOKEN.match(text, pos)
        if not m:
            break
        try:
            out.append(parse_chord(m.group(0)))
        except ControlError:
            break
        end = pos = m.end()
        sep = _CHORD_SEP.match(text, pos)
        if not sep:
            break
        pos = sep.end()
    return out, end


def _find_chords(text: str) -> tuple[tuple[tuple[str, ...], ...] | None, tuple[int, int]]:
    """Bars of chords in ``text`` and the span they take ((0, 0) if none)."""
    m = _BAR_RUN_RE.search(text)
    if m:
        bars = [b.split() for b in m.group(0).strip().strip("|").split("|")]
        try:
            return tuple(tuple(parse_chord(c) for c in bar) for bar in bars if bar), m.span()
        except ControlError:
            pass
    for m in _CHORD_CUE_RE.finditer(text):
        run, end = _chord_run(text, m.end())
        if len(run) >= 2:  # one capital letter after "chords" is too often a word ("A lot")
            return tuple((c,) for c in run), (m.start(), end)
    return None, (0, 0)


def find_controls(prompt: str, *, strict: bool = True) -> Controls:
    """The tempo, key, mode, meter and chords a prompt states (module docstring).

    Args:
        strict: a tempo stated out of range raises :class:`ControlError`; else it is dropped.
    """
    text = " ".join(prompt.split())
    chords, (a, b) = _find_chords(text)
    key, mode = _find_key(text[:a] + " " * (b - a) + text[b:])  # chord symbols are not keys
    return Controls(
        bpm=_find_bpm(text, strict), key=key, mode=mode, meter=_find_meter(text), chords=chords
    )

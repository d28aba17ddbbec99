"""Musical controls: tempo, key and mode, meter and chords, as one typed and validated object.

A :class:`Controls` comes from explicit settings (:meth:`Controls.from_user`: the strings a CLI
flag, a web field or an HTTP body carries) or from the words of a prompt (:func:`parse_prompt`);
:func:`merge` combines the two, explicit settings first, and :meth:`Controls.describe` is the
one line that shows a user what the model is told.

Conventions (those of :mod:`jen1.eval.music`): a key is a tonic pitch class spelled with sharps
(``"A#"``, never ``"Bb"``) and a mode ``"major"`` or ``"minor"``; a bare tonic ("in Bb", "--key
F") leaves the mode unset rather than guessing it. A meter is (beats per bar, beat unit), e.g.
(6, 8). Chords are bars of chord symbols, ``(("Am",), ("F",), ("C", "G"))``; roots are spelled
with sharps too and qualities canonically (``"Amin7"`` -> ``"Am7"``), so equal chords compare equal.

Bad values raise :class:`ControlError`, one line that names the field and what is accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from jen1.errors import Jen1Error
from jen1.eval.music import PITCH_CLASSES, normalize_key

BPM_RANGE = (30.0, 300.0)  # what the tempo estimator measures (jen1.eval.music) and corpus spans
MODES = ("major", "minor")
METER_NUMERATORS = range(1, 33)
METER_DENOMINATORS = (1, 2, 4, 8, 16, 32)

# Chord qualities: canonical suffix -> intervals above the root (semitones).
CHORD_INTERVALS: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7),
    "m": (0, 3, 7),
    "5": (0, 7),
    "6": (0, 4, 7, 9),
    "m6": (0, 3, 7, 9),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "mmaj7": (0, 3, 7, 11),
    "m7b5": (0, 3, 6, 10),
    "dim": (0, 3, 6),
    "dim7": (0, 3, 6, 9),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "7sus4": (0, 5, 7, 10),
    "add9": (0, 4, 7, 2),
    "9": (0, 4, 7, 10, 2),
    "maj9": (0, 4, 7, 11, 2),
    "m9": (0, 3, 7, 10, 2),
    "11": (0, 4, 7, 10, 2, 5),
    "13": (0, 4, 7, 10, 2, 9),
}
# Other spellings of the qualities.
_QUALITY_ALIASES = {
    "maj": "",
    "M": "",
    "min": "m",
    "-": "m",
    "M7": "maj7",
    "Maj7": "maj7",
    "Δ": "maj7",
    "Δ7": "maj7",
    "min7": "m7",
    "-7": "m7",
    "min6": "m6",
    "-6": "m6",
    "mM7": "mmaj7",
    "minmaj7": "mmaj7",
    "ø": "m7b5",
    "ø7": "m7b5",
    "-7b5": "m7b5",
    "°": "dim",
    "o": "dim",
    "°7": "dim7",
    "o7": "dim7",
    "+": "aug",
    "sus": "sus4",
    "dom7": "7",
    "M9": "maj9",
    "min9": "m9",
    "-9": "m9",
}
_QUALITIES = sorted({*CHORD_INTERVALS, *_QUALITY_ALIASES}, key=len, reverse=True)
_ACC = r"(?:#|♯|b|♭)"
_CHORD_RE = re.compile(
    rf"([A-G])({_ACC}?)({'|'.join(re.escape(q) for q in _QUALITIES if q)})?(?:/([A-G]{_ACC}?))?"
)
NO_CHORD = "N"
_NO_CHORD_RE = re.compile(r"N\.?C\.?|N", re.I)

_ACCEPTED = {
    "bpm": f"a number of beats per minute from {BPM_RANGE[0]:g} to {BPM_RANGE[1]:g}",
    "key": "a tonic A-G with an optional # or b, then major or minor (e.g. 'D minor', 'F#', 'Bbm')",
    "mode": "major or minor",
    "meter": "a time signature N/D with N from 1 to 32 and D one of 1, 2, 4, 8, 16, 32 (e.g. 3/4)",
    "chords": "chord symbols such as Am F C7 Dm7 G/B Bbmaj7, bars split by spaces or '|'",
}


class ControlError(Jen1Error):
    """A musical control with a value it cannot take; ``field`` names the control."""

    def __init__(self, field: str, value: Any, problem: str = "is not accepted"):
        self.field = field
        shown = repr(value) if isinstance(value, str) else str(value)
        super().__init__(f"{field} {shown} {problem} (accepted: {_ACCEPTED[field]})")


# --- parsing one value ----------------------------------------------------------------------------


def parse_bpm(value: float | int | str) -> float:
    """A tempo in BPM from a number or a string ("120", "96.5", "120 bpm")."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:bpm)?\s*", value, re.I)
        if not m:
            raise ControlError("bpm", value, "is not a number")
        value = float(m.group(1))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ControlError("bpm", value, "is not a number")
    bpm = float(value)
    if not math.isfinite(bpm) or not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
        raise ControlError("bpm", value, "is out of range")
    return bpm


def _tonic(letter: str, accidental: str) -> str:
    acc = {"♯": "#", "♭": "b"}.get(accidental, accidental)
    return normalize_key(letter.upper() + acc)


def parse_key(value: str) -> tuple[str, str | None]:
    """(tonic, mode) from "D minor", "F# major", "Dm", "C sharp minor", "Eb maj"; a bare tonic
    ("Bb") has mode None."""
    if not isinstance(value, str):
        raise ControlError("key", value)
    m = re.fullmatch(
        rf"\s*([A-Ga-g])\s*({_ACC}|-?sharp|-?flat| sharp| flat)?\s*-?\s*"
        r"(major|minor|maj|min|m|M)?\s*",
        value,
    )
    if not m:
        raise ControlError("key", value)
    acc = m.group(2) or ""
    acc = "#" if "sharp" in acc else "b" if "flat" in acc else acc
    mode = m.group(3)
    if mode is None:
        return _tonic(m.group(1), acc), None
    return _tonic(m.group(1), acc), "minor" if mode in ("minor", "min", "m") else "major"


def parse_mode(value: str) -> str:
    v = value.strip().lower() if isinstance(value, str) else value
    v = {"maj": "major", "min": "minor", "ionian": "major", "aeolian": "minor"}.get(v, v)
    if v not in MODES:
        raise ControlError("mode", value)
    return v


_METER_WORDS = {
    "common time": (4, 4),
    "cut time": (2, 2),
    "waltz time": (3, 4),
    "waltz": (3, 4),
    "triple time": (3, 4),
    "triple meter": (3, 4),
    "duple time": (2, 4),
}


def parse_meter(value: str | Sequence[int]) -> tuple[int, int]:
    """(beats per bar, beat unit) from "3/4", "6/8", (3, 4), "common time", "waltz time"."""
    if isinstance(value, str):
        word = _METER_WORDS.get(value.strip().lower())
        if word:
            return word
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
        if not m:
            raise ControlError("meter", value)
        num, den = int(m.group(1)), int(m.group(2))
    elif (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in value)
    ):
        num, den = value
    else:
        raise ControlError("meter", value)
    if num not in METER_NUMERATORS or den not in METER_DENOMINATORS:
        raise ControlError("meter", value if isinstance(value, str) else f"{num}/{den}")
    return num, den


def parse_chord(symbol: str) -> str:
    """One chord symbol in canonical spelling ("Bbmin7" -> "A#m7", "G/B" kept, "N.C." -> "N")."""
    if _NO_CHORD_RE.fullmatch(symbol):
        return NO_CHORD
    m = _CHORD_RE.fullmatch(symbol)
    if not m:
        raise ControlError("chords", symbol)
    root = _tonic(m.group(1), m.group(2))
    quality = _QUALITY_ALIASES.get(m.group(3) or "", m.group(3) or "")
    bass = f"/{_tonic(m.group(4)[0], m.group(4)[1:])}" if m.group(4) else ""
    return f"{root}{quality}{bass}"


def parse_chords(value: str | Sequence[Any]) -> tuple[tuple[str, ...], ...]:
    """Bars of chords from "Am F C G" (a chord per bar), "Am F | C G" (bars split by ``|``),
    "Am, F, C, G", or a sequence of symbols or of bars."""
    if isinstance(value, str):
        text = value.strip().strip("|").strip()
        if "|" in text:
            bars = [b.split() for b in text.replace(",", " ").split("|")]
        else:
            bars = [[c] for c in re.split(r"[\s,]+|\s+-\s+", text) if c]
    elif isinstance(value, Sequence):
        bars = [[b] if isinstance(b, str) else list(b) for b in value]
    else:
        raise ControlError("chords", value)
    out = tuple(tuple(parse_chord(c) for c in bar) for bar in bars if bar)
    if not out:
        raise ControlError("chords", value, "holds no chord")
    return out


def chord_pitch_classes(symbol: str) -> tuple[int, ...]:
    """Pitch classes (0 = C) of a canonical chord symbol, bass note first when one is given;
    () for no chord."""
    if symbol == NO_CHORD:
        return ()
    m = _CHORD_RE.fullmatch(symbol)
    if not m:
        raise ControlError("chords", symbol)
    root = PITCH_CLASSES.index(_tonic(m.group(1), m.group(2)))
    quality = _QUALITY_ALIASES.get(m.group(3) or "", m.group(3) or "")
    pcs = [(root + i) % 12 for i in CHORD_INTERVALS[quality]]
    if m.group(4):
        bass = PITCH_CLASSES.index(_tonic(m.group(4)[0], m.group(4)[1:]))
        pcs = [bass] + [p for p in pcs if p != bass]
    return tuple(pcs)


# --- the controls ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Controls:
    """Musical controls; every field is optional (None: not controlled).

    Args:
        bpm: tempo in beats per minute, within :data:`BPM_RANGE`.
        key: tonic pitch class, sharps only (``"C"`` .. ``"B"``, see :data:`PITCH_CLASSES`).
        mode: ``"major"`` or ``"minor"``.
        meter: (beats per bar, beat unit), e.g. (3, 4).
        chords: bars of canonical chord symbols, e.g. (("Am",), ("F",), ("C", "G")).
    """

    bpm: float | None = None
    key: str | None = None
    mode: str | None = None
    meter: tuple[int, int] | None = None
    chords: tuple[tuple[str, ...], ...] | None = None

    def __post_init__(self) -> None:
        # Key, mode and chords must be canonical (users' spellings go through from_user); bpm
        # and meter are normalised here (120 -> 120.0, [3, 4] -> (3, 4)).
        if self.bpm is not None:
            object.__setattr__(self, "bpm", parse_bpm(self.bpm))
        if self.key is not None and self.key not in PITCH_CLASSES:
            raise ControlError("key", self.key)
        if self.mode is not None and self.mode not in MODES:
            raise ControlError("mode", self.mode)
        if self.meter is not None:
            object.__setattr__(self, "meter", parse_meter(self.meter))
        if self.chords is not None:
            if isinstance(self.chords, str) or not self.chords:
                raise ControlError("chords", self.chords)
            for bar in self.chords:
                for c in bar if not isinstance(bar, str) else (bar,):
                    if parse_chord(c) != c:
                        raise ControlError("chords", c, "is not in canonical spelling")
            object.__setattr__(
                self, "chords", tuple((b,) if isinstance(b, str) else tuple(b) for b in self.chords)
            )

    @classmethod
    def from_user(
        cls,
        *,
        bpm: float | str | None = None,
        key: str | None = None,
        mode: str | None = None,
        meter: str | Sequence[int] | None = None,
        chords: str | Sequence[Any] | None = None,
    ) -> Controls:
        """Controls from the values a user typed (``key="D minor"``, ``meter="3/4"``,
        ``chords="Am F | C G"``); empty strings count as not given. A ``mode`` given beside a
        key that names one must agree with it."""

        def given(v: Any) -> bool:
            return v is not None and not (isinstance(v, str) and not v.strip())

        tonic, key_mode = parse_key(key) if given(key) else (None, None)
        if given(mode):
            mode = parse_mode(mode)
            if key_mode is not None and mode != key_mode:
                raise ControlError("mode", mode, f"contradicts the key {key!r}")
            key_mode = mode
        return cls(
            bpm=parse_bpm(bpm) if given(bpm) else None,
            key=tonic,
            mode=key_mode,
            meter=parse_meter(meter) if given(meter) else None,
            chords=parse_chords(chords) if given(chords) else None,
        )

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields that are set: ``{"bpm": 120.0, "key": "D", "mode": "minor",
        "meter": "3/4", "chords": "Am F | C G"}`` (what :meth:`from_dict` reads)."""
        out: dict[str, Any] = {}
        if self.bpm is not None:
            out["bpm"] = self.bpm
        if self.key is not None:
            out["key"] = self.key
        if self.mode is not None:
            out["mode"] = self.mode
        if self.meter is not None:
            out["meter"] = f"{self.meter[0]}/{self.meter[1]}"
        if self.chords is not None:
            out["chords"] = format_chords(self.chords)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Controls:
        """Inverse of :meth:`to_dict`; unknown keys raise (a typo never passes silently)."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise Jen1Error(
                f"unknown control {sorted(unknown)[0]!r} (known: bpm, key, mode, meter, chords)"
            )
        return cls.from_user(**d)

    def describe(self) -> str:
        """One line for the user: "tempo 120 BPM, key D minor, meter 3/4, chords Am F C G"."""
        parts = []
        if self.bpm is not None:
            parts.append(f"tempo {self.bpm:g} BPM")
        if self.key is not None or self.mode is not None:
            parts.append("key " + " ".join(x for x in (self.key, self.mode) if x))
        if self.meter is not None:
            parts.append(f"meter {self.meter[0]}/{self.meter[1]}")
        if self.chords is not None:
            parts.append(f"chords {format_chords(self.chords)}")
        return ", ".join(parts) if parts else "no musical controls"


def format_chords(chords: tuple[tuple[str, ...], ...]) -> str:
    """ "Am F C G" when every bar has one chord, else bars split by " | "."""
    if all(len(bar) == 1 for bar in chords):
        return " ".join(bar[0] for bar in chords)
    return " | ".join(" ".join(bar) for bar in chords)


def merge(explicit: Controls | None, parsed: Controls | None) -> Controls:
    """Field by field, the explicit value where given, else the parsed one. Key and mode travel
    together: an explicit key or mode replaces both of the parsed ones (a parsed "minor" never
    attaches to an explicit tonic)."""
    explicit, parsed = explicit or Controls(), parsed or Controls()
    use_explicit_key = explicit.key is not None or explicit.mode is not None
    src = explicit if use_explicit_key else parsed
    return Controls(
        bpm=explicit.bpm if explicit.bpm is not None else parsed.bpm,
        key=src.key,
        mode=src.mode,
        meter=explicit.meter if explicit.meter is not None else parsed.meter,
        chords=explicit.chords if explicit.chords is not None else parsed.chords,
    )


def parse_prompt(prompt: str, *, strict: bool = True) -> Controls:
    """The controls a prompt states in words (see :mod:`jen1.conditioning.prompt_controls`).

    Args:
        strict: a stated value out of range ("at 1000 BPM") raises :class:`ControlError`;
            with False it is dropped.
    """
    from jen1.conditioning.prompt_controls import find_controls

    return find_controls(prompt, strict=strict)

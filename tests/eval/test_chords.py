"""Chord match per beat on synthetic chord sequences with known answers."""

import numpy as np
import pytest

from jen1.eval.adherence import clip_attributes, summarize_attributes
from jen1.eval.chords import chord_match, triad
from tests.eval.eval_signals import _tone, midi_hz

SR, BPM = 48000, 120.0
NOTES = {"C": (60, 64, 67), "Am": (57, 60, 64), "F": (53, 57, 60), "G": (55, 59, 62)}


def _render(bars: list[str], seconds: float = 8.0, per_bar: int = 4) -> np.ndarray:
    """One chord a bar, each beat re-struck (a piano-like decaying tone per note)."""
    n, beat = round(seconds * SR), 60.0 / BPM
    out = np.zeros(n)
    for i, t in enumerate(np.arange(0, seconds, beat)):
        a = round(t * SR)
        m = min(round(beat * SR), n - a)
        for note in NOTES[bars[(i // per_bar) % len(bars)]]:
            out[a : a + m] += 0.2 * _tone(midi_hz(note), m, SR)[:m]
    return np.stack([out, out]).astype(np.float32)


@pytest.mark.parametrize(
    "symbol, index",
    [("C", 0), ("Am", 21), ("G7", 7), ("Bm7b5", 23), ("F#maj7", 6), ("A#m7/F", 22), ("N", None)],
)
def test_chords_reduce_to_triads(symbol, index):
    assert triad(symbol) == index


def test_the_played_progression_matches_and_others_do_not():
    wav = _render(["Am", "F", "C", "G"])
    assert chord_match(wav, SR, "Am F C G", BPM) == {"beats": 16, "matched": 1.0}
    assert chord_match(wav, SR, "F C G Am", BPM)["matched"] == 0.0  # one bar late
    half = chord_match(wav, SR, "Am F | C G", BPM, beats_per_bar=8)  # two chords a bar of 8
    assert half["matched"] == 1.0


def test_clip_attributes_report_chord_match_when_chords_and_tempo_are_known():
    wav = _render(["C", "G"])
    row = clip_attributes(wav, {"bpm": BPM, "chords": "C G", "meter": "4/4"}, SR)
    assert row["chord_match"] == 1.0 and row["chord_beats"] == 16
    rows = [row, clip_attributes(wav, {"bpm": BPM, "chords": "F Am"}, SR)]
    assert summarize_attributes(rows)["chords"]["beat_match"] == 0.5
    assert "chord_match" not in clip_attributes(wav, {"chords": "C G"}, SR)  # no grid to check


def _accents(bpm: float, per_bar: int, seconds: float = 10.0) -> np.ndarray:
    """A 1.5 kHz blip on every beat, the first of each bar of ``per_bar`` beats loudest."""
    x = np.zeros(round(seconds * SR), np.float32)
    t = np.arange(round(0.02 * SR)) / SR
    blip = (np.sin(2 * np.pi * 1500 * t) * np.exp(-t / 0.004)).astype(np.float32)
    for i, start in enumerate(np.arange(0.05, seconds - 0.05, 60.0 / bpm)):
        a = round(start * SR)
        x[a : a + len(blip)] += blip * (1.0 if i % per_bar == 0 else 0.3)
    return np.stack([x, x])


@pytest.mark.parametrize("per_bar, want", [(3, "triple"), (4, "duple"), (2, "duple")])
def test_the_accent_grouping_is_read_at_the_asked_tempo(per_bar, want):
    from jen1.eval.meter import estimate_grouping, meter_grouping

    assert estimate_grouping(_accents(110.0, per_bar), SR, 110.0) == want
    assert meter_grouping(f"{per_bar}/4") == want
    assert meter_grouping("6/8") is None and meter_grouping("x/4") is None


def test_clip_attributes_score_the_meter_where_its_grouping_is_plain():
    wav = _accents(100.0, 3)
    assert clip_attributes(wav, {"bpm": 100.0, "meter": "3/4"}, SR)["meter_ok"] is True
    assert clip_attributes(wav, {"bpm": 100.0, "meter": "4/4"}, SR)["meter_ok"] is False
    assert "meter_ok" not in clip_attributes(wav, {"bpm": 100.0, "meter": "6/8"}, SR)
    rows = [clip_attributes(wav, {"bpm": 100.0, "meter": m}, SR) for m in ("3/4", "2/4")]
    assert summarize_attributes(rows)["meter"]["accuracy"] == 0.5

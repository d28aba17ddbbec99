"""Deterministic synthetic signals with known answers for the eval tests (numpy only, so the
script that made the musicnn reference fixture can import it from a TensorFlow venv)."""

from __future__ import annotations

import numpy as np

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _tone(freq: float, n: int, sr: int, decay: float = 3.0, partials: int = 6) -> np.ndarray:
    """A decaying harmonic tone (piano-like), n samples."""
    t = np.arange(n) / sr
    out = np.zeros(n)
    for k in range(1, partials + 1):
        if k * freq < sr / 2:
            out += np.sin(2 * np.pi * k * freq * t) / k**1.2
    return out * np.exp(-decay * t)


def midi_hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def click_track(
    bpm: float, seconds: float = 10.0, sr: int = 48000, accent: bool = True
) -> np.ndarray:
    """Short noise-free clicks (a 1.5 kHz blip, 20 ms) every beat; the downbeat of each bar of 4
    is louder if ``accent``. Returns (L,) float32."""
    n = round(seconds * sr)
    out = np.zeros(n)
    blip_n = round(0.02 * sr)
    t = np.arange(blip_n) / sr
    blip = np.sin(2 * np.pi * 1500 * t) * np.exp(-t / 0.004)
    period = 60.0 / bpm
    for i, start in enumerate(np.arange(0.05, seconds, period)):
        a = round(start * sr)
        m = min(blip_n, n - a)
        out[a : a + m] += blip[:m] * (1.0 if (not accent or i % 4 == 0) else 0.6)
    return (0.5 * out).astype(np.float32)


def drum_groove(bpm: float, seconds: float = 10.0, sr: int = 48000) -> np.ndarray:
    """Kick on beats 1 and 3, snare-like noise on 2 and 4, hats on eighths. (L,) float32."""
    n = round(seconds * sr)
    rng = np.random.default_rng(0)
    out = np.zeros(n)
    beat = 60.0 / bpm
    kn = round(0.15 * sr)
    tk = np.arange(kn) / sr
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-tk / 0.02)) * tk) * np.exp(-tk / 0.06)
    noise = rng.random(kn) * 2 - 1
    snare = noise * np.exp(-tk / 0.03)
    hat = noise * np.exp(-tk / 0.006) * 0.3
    for i, start in enumerate(np.arange(0.05, seconds, beat / 2)):
        a = round(start * sr)
        m = min(kn, n - a)
        out[a : a + m] += hat[:m]
        if i % 2 == 0:
            out[a : a + m] += (kick if (i // 2) % 2 == 0 else snare)[:m]
    return (0.4 * out / np.abs(out).max()).astype(np.float32)


def chord_progression(key: str, mode: str, seconds: float = 8.0, sr: int = 48000) -> np.ndarray:
    """I-IV-V-I (major) or i-iv-V-i (minor) in ``key``, one chord per second, with a bass note.
    Returns (L,) float32."""
    tonic = PITCH_CLASSES.index(key)
    third = 4 if mode == "major" else 3
    chords = [(0, third, 7), (5, 5 + third, 12), (7, 11, 14), (0, third, 7)]
    n_chord = sr
    n = round(seconds * sr)
    out = np.zeros(n)
    for i in range(int(np.ceil(seconds))):
        root = chords[i % 4]
        seg = np.zeros(n_chord)
        for iv in root:
            seg += _tone(midi_hz(60 + tonic + iv), n_chord, sr, decay=1.5)
        seg += 0.8 * _tone(midi_hz(48 + tonic + root[0]), n_chord, sr, decay=1.0)
        a = i * n_chord
        m = min(n_chord, n - a)
        out[a : a + m] += seg[:m]
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def music_like(seconds: float = 6.0, sr: int = 16000) -> np.ndarray:
    """A deterministic piano-and-drums-like excerpt (C major chords over a 120 BPM groove), used
    as the input of the musicnn reference fixture. Returns (L,) float32 in [-1, 1]."""
    chords = chord_progression("C", "major", seconds, sr)
    drums = drum_groove(120.0, seconds, sr)
    return (0.6 * chords + 0.5 * drums).astype(np.float32)

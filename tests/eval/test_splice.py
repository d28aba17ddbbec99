"""Splice-boundary flux on signals with and without an abrupt join."""

from __future__ import annotations

import numpy as np
import pytest

from tests.eval.eval_signals import chord_progression
from jen1.errors import Jen1Error
from jen1.eval.splice import boundary_jump, crop_regions, regions_fad

SR = 48000


def _pad_tone(seconds: float, freq: float, seed: int) -> np.ndarray:
    """A steady chord with a little noise: no onsets of its own."""
    t = np.arange(round(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))
    return 0.2 * x + 0.002 * np.random.default_rng(seed).standard_normal(t.size)


def test_abrupt_join_stands_out_and_smooth_signal_does_not():
    a, b = _pad_tone(3.0, 220.0, 0), _pad_tone(3.0, 330.0, 1)
    spliced = np.concatenate([a, 3 * b])
    smooth = _pad_tone(6.0, 220.0, 2)
    hard = boundary_jump(spliced, [3.0])
    soft = boundary_jump(smooth, [3.0])
    assert hard["max_ratio"] > 5 * soft["max_ratio"]
    assert soft["max_ratio"] < 3.0
    assert len(hard["ratios"]) == 1 and hard["median_flux"] > 0


def test_click_inside_a_chord_stands_out():
    music = chord_progression("C", "major", seconds=8.0)  # a chord change every second
    mid_chord = boundary_jump(music, [4.5])["max_ratio"]
    assert boundary_jump(music, [4.0])["max_ratio"] > 10 * mid_chord  # a chord change is an onset
    clicked = music.copy()
    clicked[round(4.5 * SR)] += 0.9  # a one-sample click, as a bad splice makes
    assert boundary_jump(clicked, [4.5])["max_ratio"] > 10 * mid_chord


def test_crop_regions_and_errors():
    wavs = [np.zeros((2, SR * 4)), np.ones((2, SR * 4))]
    out = crop_regions(wavs, [(1.0, 2.5), (0.0, 1.0)])
    assert out[0].shape == (2, round(1.5 * SR)) and out[1].shape == (2, SR)
    with pytest.raises(Jen1Error, match="outside"):
        crop_regions(wavs, [(3.0, 5.0), (0.0, 1.0)])
    with pytest.raises(Jen1Error, match="2 clips for 1"):
        crop_regions(wavs, [(0.0, 1.0)])
    with pytest.raises(Jen1Error, match="at least one"):
        boundary_jump(wavs[0], [])


def test_regions_fad_uses_only_the_regions():
    class Stub:  # embeds a clip as its mean level, so FAD sees only what was cropped
        def embed(self, wav, sr, hop_seconds=None):
            level = float(np.asarray(wav).mean())
            return {"penultimate": level + np.random.default_rng(0).normal(0, 0.1, (1, 5, 3))}

    wavs = [np.concatenate([np.zeros((2, SR)), np.ones((2, SR))], axis=1)] * 4
    ref = np.random.default_rng(1).normal(0, 0.1, (40, 3))
    zeros = regions_fad(Stub(), wavs, [(0.0, 1.0)] * 4, ref)
    ones = regions_fad(Stub(), wavs, [(1.0, 2.0)] * 4, ref)
    assert zeros["metric"] == "FAD-musicnn" and zeros["n_gen"] == 20
    assert zeros["value"] < 0.2 < 2.0 < ones["value"]

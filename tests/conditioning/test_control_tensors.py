"""Controls as tensors: beat and downbeat phase, chord chroma, absent codes, dropout shares."""

import math

import numpy as np
import pytest
import torch

from jen1.conditioning.control_tensors import (
    BEAT,
    BEAT_GIVEN,
    CHORD_GIVEN,
    CHROMA,
    DOWNBEAT,
    DOWNBEAT_GIVEN,
    Chord,
    absent_controls,
    beat_phase,
    controls_to_tensors,
    drop_controls,
    frame_channels,
)
from jen1.conditioning.controls import Controls

RATE = 50.0  # latent frames per second


def _phase(sc: torch.Tensor) -> np.ndarray:
    return np.mod(np.arctan2(sc[0].numpy(), sc[1].numpy()) / (2 * math.pi), 1.0)


def test_beat_phase_is_zero_on_beats_and_linear_between_and_outside():
    beats = np.array([1.0, 1.5, 2.5])
    ph = beat_phase(beats, np.array([0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0]))
    np.testing.assert_allclose(ph, [0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5])


def test_tempo_gives_a_beat_grid_at_that_rate_with_bars_of_the_meter():
    c = controls_to_tensors([Controls(bpm=120.0, meter=(3, 4))], 200, RATE, beat_grid=True)
    f = c.frames[0]
    beat = _phase(f[BEAT])
    # a beat every 0.5 s = 25 frames, phase 0 at frame 0, 25, 50, ...
    assert np.allclose(beat[::25], 0.0, atol=1e-6) and np.isclose(beat[12], 12 / 25, atol=1e-6)
    bar = _phase(f[DOWNBEAT])
    assert np.allclose(bar[::75], 0.0, atol=1e-6) and np.isclose(bar[25], 1 / 3, atol=1e-6)
    assert f[BEAT_GIVEN].all() and f[DOWNBEAT_GIVEN].all() and not f[CHORD_GIVEN].any()
    assert c.bpm.tolist() == [120.0] and c.meter_num.tolist() == [3] and c.meter_den.tolist() == [3]


def test_chords_fill_their_bars_and_loop():
    told = Controls(bpm=60.0, meter=(2, 4), chords=(("C",), ("Am", "G7")))
    f = controls_to_tensors([told], 300, RATE, beat_grid=True).frames[0]  # a bar is 2 s
    chroma = f[CHROMA]
    assert chroma[:, 0].nonzero().flatten().tolist() == [0, 4, 7]  # C E G
    assert chroma[:, 100].nonzero().flatten().tolist() == [0, 4, 9]  # Am: A C E
    assert chroma[:, 150].nonzero().flatten().tolist() == [2, 5, 7, 11]  # G7 in bar 2's half
    assert torch.equal(chroma[:, 200], chroma[:, 0])  # the progression loops
    assert f[CHORD_GIVEN].all()


def test_no_beat_grid_where_the_audio_has_its_phase_and_an_offset_moves_the_chords():
    told = Controls(bpm=60.0, key="D", mode="minor", meter=(4, 4), chords=(("Dm",),))
    c = controls_to_tensors([told], 300, RATE, beat_grid=False, offset_seconds=2.0)
    f = c.frames[0]
    assert not f[BEAT].any() and not f[BEAT_GIVEN].any() and not f[DOWNBEAT_GIVEN].any()
    assert not f[CHORD_GIVEN, :100].any() and f[CHORD_GIVEN, 100:].all()
    assert c.tonic.tolist() == [3] and c.mode.tolist() == [2] and c.bpm.tolist() == [60.0]


def test_absent_controls_are_codes_zero_and_no_channels():
    c = controls_to_tensors([Controls()], 10, RATE, beat_grid=True)
    a = absent_controls(1, 10, "cpu")
    for name in ("bpm", "tonic", "mode", "meter_num", "meter_den", "frames"):
        assert torch.equal(getattr(c, name), getattr(a, name)), name
    assert not a.frames.any()


def test_labelled_beats_need_not_be_steady():
    beats = np.array([0.0, 0.4, 1.0, 1.2])  # a rubato grid from labels
    f = frame_channels(60, RATE, beats=beats, chords=[Chord(0.5, 0.7, "N")])
    assert np.isclose(_phase(torch.from_numpy(f[BEAT]))[10], 0.5, atol=1e-6)  # 0.2 s of 0.4
    assert f[CHORD_GIVEN, 25:35].all() and not f[CHROMA, 25:35].any()  # "no chord" is given


def test_dropout_shares_are_independent_per_control_and_follow_the_text():
    n, p = 20000, 0.3
    told = [Controls(bpm=100.0, key="C", mode="major", meter=(4, 4), chords=(("C",),))]
    c = controls_to_tensors(told * n, 4, RATE, beat_grid=True)
    drop_text = torch.arange(n) % 5 == 0  # 20 % of samples drop their text
    out = drop_controls(c, p, drop_text, torch.Generator().manual_seed(0))
    dropped = torch.stack([
        out.bpm == 0, out.tonic == 0, out.meter_num == 0, ~out.frames[:, CHORD_GIVEN, 0].bool()
    ], 1)  # fmt: skip
    assert dropped[drop_text].all()  # the unconditional branch drops every control
    kept = dropped[~drop_text].float()
    share = kept.mean(0)
    assert torch.all((share - p).abs() < 0.015), share
    joint = (kept[:, 0] * kept[:, 3]).mean()
    assert abs(joint - p * p) < 0.01  # bpm and chords are dropped independently
    assert abs(kept.prod(1).mean() - p**4) < 0.005  # all four: rare, but seen
    # a dropped tempo takes its beat channels along; a kept one keeps them
    no_bpm = out.bpm == 0
    assert not out.frames[no_bpm][:, BEAT].any()
    assert out.frames[~no_bpm][:, BEAT_GIVEN].all()
    assert not out.frames[out.meter_num == 0][:, DOWNBEAT_GIVEN].any()
    assert out.mode[out.tonic == 0].eq(0).all()  # key and mode travel together


def test_dropout_with_per_sample_generators_depends_on_each_sample_only():
    told = [Controls(bpm=100.0, key="C")] * 4
    c = controls_to_tensors(told, 4, RATE, beat_grid=True)
    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3, 4)]
    a = drop_controls(c, 0.5, torch.zeros(4, dtype=torch.bool), gens)
    gens = [torch.Generator().manual_seed(s) for s in (1, 9, 3, 9)]
    b = drop_controls(c, 0.5, torch.zeros(4, dtype=torch.bool), gens)
    assert torch.equal(a.bpm[[0, 2]], b.bpm[[0, 2]]) and torch.equal(a.tonic[[0, 2]],
                                                                      b.tonic[[0, 2]])


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout_extremes(p):
    c = controls_to_tensors([Controls(bpm=90.0)] * 8, 4, RATE, beat_grid=True)
    out = drop_controls(c, p, torch.zeros(8, dtype=torch.bool), torch.Generator().manual_seed(0))
    assert bool((out.bpm == 0).all()) == (p == 1.0) and bool((out.bpm > 0).all()) == (p == 0.0)

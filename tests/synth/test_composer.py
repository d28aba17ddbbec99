"""Composer, captions and renderer: musical constraints, style coverage, render determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jen1.synth.captions import TEMPLATE_COUNT, TEMPO_WORDS, make_caption, style_words
from jen1.synth.composer import compose, orchestrate
from jen1.synth.render import SoundFontRenderer, window_to_midi
from jen1.synth.styles import STYLES
from jen1.synth.theory import SCALES, parse_chord

TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


def test_parse_chord():
    assert parse_chord("V7", 0, "major").pcs == [7, 11, 2, 5]
    assert parse_chord("bVII", 0, "major").pcs == [10, 2, 5]
    assert parse_chord("VI", 9, "minor").pcs == [5, 9, 0]  # F major in A minor
    assert parse_chord("ii7", 2, "major").pcs == [4, 7, 11, 2]
    with pytest.raises(ValueError):
        parse_chord("IX", 0, "major")


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_composes_in_range_and_in_key(style):
    spec = STYLES[style]
    for seed in range(3):
        comp = compose(seed, style=style)
        assert spec.bpm[0] <= comp.bpm <= spec.bpm[1] and 60 <= comp.bpm <= 180
        assert comp.beats_per_bar in spec.meters
        assert comp.lines and all(comp.lines.values())
        if "melody" in comp.lines and spec.melody_scale == "diatonic":
            scale = {(comp.tonic + s) % 12 for s in SCALES[comp.mode]}
            mel = comp.lines["melody"]
            in_key = np.mean([n.pitch % 12 in scale for n in mel])
            assert in_key > 0.75, (style, seed, in_key)
        for notes in comp.lines.values():
            assert all(0 <= n.pitch <= 127 and 1 <= n.velocity <= 127 and n.dur > 0 for n in notes)
        arr = orchestrate(comp, np.random.default_rng(seed))
        assert {p.role for p in arr.parts} == set(comp.lines)
        assert all(0 <= p.pan <= 127 for p in arr.parts)


def test_waltz_is_in_three_and_drums_use_channel_10():
    comp = compose(1, style="waltz")
    assert comp.beats_per_bar == 3
    arr = orchestrate(compose(0, style="rock"), np.random.default_rng(0))
    drums = [p for p in arr.parts if p.role == "drums"]
    assert drums and drums[0].is_drum


def test_renderer_is_independent_of_earlier_renders():
    if not TIMGM.exists():
        pytest.skip("TimGM6mb soundfont not installed")
    r = SoundFontRenderer(TIMGM)
    a = window_to_midi(orchestrate(compose(0, style="rock"), np.random.default_rng(0)), 0.0, 1.0)[0]
    b = window_to_midi(
        orchestrate(compose(1, style="ambient"), np.random.default_rng(0)), 0.0, 1.0
    )[0]
    first = r.render(a, 48000)
    r.render(b, 48000)
    assert first.shape == (2, 48000) and np.abs(first).max() > 0.01
    assert np.array_equal(first, r.render(a, 48000))


def test_captions_vary_and_always_give_style_and_tempo():
    attrs = {
        "style": "bossa nova",
        "bpm": 92,
        "key": "D",
        "mode": "minor",
        "mood": "laid-back",
        "instruments": ["nylon guitar", "upright bass", "brushed drums"],
    }
    rng = np.random.default_rng(0)
    caps = [make_caption(attrs, rng) for _ in range(300)]
    assert TEMPLATE_COUNT >= 8 and len(set(caps)) > 250
    with_bpm = sum("92" in c for c in caps) / len(caps)
    assert 0.6 <= with_bpm <= 0.85
    for c in caps:
        low = c.lower()
        assert any(w.lower() in low for w in style_words("bossa nova")), c
        assert "92" in c or set(low.replace(",", " ").replace(".", " ").split()) & TEMPO_WORDS, c
        assert "  " not in c and " ," not in c and c[0].isupper()

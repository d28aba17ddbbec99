"""Real drum kits and the varied mix of the synthetic corpus."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from jen1.synth.render import AVL_DRUM_KITS, SoundFontRenderer, vary_mix

GM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
needs_fonts = pytest.mark.skipif(
    not (GM.exists() and all(k.exists() for k in AVL_DRUM_KITS)),
    reason="needs timgm6mb-soundfont and avldrums.lv2-soundfont (scripts/install.sh)",
)


def _drum_midi() -> bytes:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    d = pretty_midi.Instrument(program=0, is_drum=True)
    for i in range(4):
        d.notes.append(pretty_midi.Note(100, 36 if i % 2 == 0 else 38, i * 0.25, i * 0.25 + 0.1))
    pm.instruments.append(d)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


@needs_fonts
def test_kits_replace_the_gm_drums_and_the_gm_kit_comes_back():
    midi = _drum_midi()
    plain = SoundFontRenderer(GM).render(midi, 48000)
    r = SoundFontRenderer(GM, drum_kits=AVL_DRUM_KITS)
    gm = r.render(midi, 48000)
    kit0, kit1 = r.render(midi, 48000, kit=0), r.render(midi, 48000, kit=1)
    gm_again = r.render(midi, 48000)
    assert np.sqrt(np.mean(kit0**2)) > 1e-3 and np.sqrt(np.mean(kit1**2)) > 1e-3  # not silent
    assert np.abs(kit0 - gm).mean() > 1e-3 and np.abs(kit0 - kit1).mean() > 1e-3
    np.testing.assert_array_equal(gm, plain)  # without a kit: the GM font's drums, as before
    np.testing.assert_array_equal(gm_again, gm)  # a kit render does not stick


def test_vary_mix_changes_width_and_tilt_by_its_draw():
    rng = np.random.default_rng(0)
    wav = (0.1 * rng.standard_normal((2, 48000))).astype(np.float32)
    out, mix = vary_mix(wav, np.random.default_rng(1))
    assert set(mix) == {"width", "tilt"} and 0.5 <= mix["width"] <= 1.5
    side_in, side_out = wav[0] - wav[1], out[0] - out[1]
    mid_in, mid_out = wav[0] + wav[1], out[0] + out[1]
    ratio = np.std(side_out) / np.std(mid_out) / (np.std(side_in) / np.std(mid_in))
    assert abs(ratio - mix["width"]) < 0.15  # tilt acts on both alike
    again, mix2 = vary_mix(wav, np.random.default_rng(1))
    assert mix2 == mix and np.array_equal(again, out)


@needs_fonts
def test_corpus_with_kits_and_mix_records_them_and_reuses_clips(tmp_path):
    from jen1.synth.corpus import synthesize_corpus

    kw = dict(clips=3, seconds=2.0, soundfont=GM, progress=False, music21_share=0.0)
    s = synthesize_corpus(tmp_path, drum_kits=AVL_DRUM_KITS, vary=True, **kw)
    assert s.clips == 3 and s.failed == 0
    from jen1.data.metadata import read_metadata

    recs = read_metadata(tmp_path / "metadata.jsonl")
    assert all(r["attributes"]["drum_kit"] in ("gm", "Black_Pearl_4_LV2", "Red_Zeppelin_4_LV2")
               for r in recs)
    assert all(set(r["attributes"]["mix"]) == {"width", "tilt"} for r in recs)
    again = synthesize_corpus(tmp_path, drum_kits=AVL_DRUM_KITS, vary=True, **kw)
    assert again.reused == 3 and again.rendered == 0
    plain = synthesize_corpus(tmp_path, **kw)  # another recipe: rendered anew
    assert plain.rendered == 3

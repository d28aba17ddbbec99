"""Corpus synthesis: format, schema, captions, determinism, re-run skipping (TimGM6mb, 2 s)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jen1.synth.captions import TEMPO_WORDS, style_words
from jen1.data.metadata import read_metadata
from jen1.synth.corpus import plan_corpus, synthesize_corpus
from jen1.synth.theory import MAJOR_KEYS, MINOR_KEYS

TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
pytestmark = pytest.mark.skipif(not TIMGM.exists(), reason="TimGM6mb soundfont not installed")


def _synth(out: Path, seed: int = 0, clips: int = 3):
    return synthesize_corpus(
        out, clips=clips, seconds=2.0, seed=seed, soundfont=TIMGM, progress=False
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    return out, _synth(out)


def test_audio_is_48k_stereo_exact_length_and_not_silent(corpus):
    out, summary = corpus
    assert summary.clips == 3 and summary.rendered == 3 and summary.failed == 0
    for rec in read_metadata(out / "metadata.jsonl"):
        wav, sr = sf.read(out / rec["path"], dtype="float32")
        assert sr == 48000 and wav.shape == (96000, 2)
        rms_db = 20 * np.log10(np.sqrt(np.mean(wav**2)))
        assert -35 < rms_db < -10
        assert np.max(np.abs(wav)) <= 10 ** (-1 / 20) + 1e-3  # peak ceiling -1 dBFS


def test_metadata_schema(corpus):
    out, _ = corpus
    recs = read_metadata(out / "metadata.jsonl")
    assert [r["index"] for r in recs] == [0, 1, 2]
    for r in recs:
        a = r["attributes"]
        assert r["seconds"] == 2.0 and r["split"] in ("train", "val", "test")
        assert isinstance(a["bpm"], int) and 60 <= a["bpm"] <= 180
        assert a["mode"] in ("major", "minor")
        assert a["key"] in (MAJOR_KEYS if a["mode"] == "major" else MINOR_KEYS)
        assert a["instruments"] and all(isinstance(i, str) for i in a["instruments"])
        assert a["source"] == "composer" or a["source"].startswith("music21:")
        assert a["composition_id"]
    prompts = [json.loads(line) for line in (out / "test_prompts.jsonl").read_text().splitlines()]
    assert len(prompts) == sum(r["split"] == "test" for r in recs)


def test_captions_mention_style_and_tempo(corpus):
    out, _ = corpus
    for r in read_metadata(out / "metadata.jsonl"):
        cap, a = r["caption"].lower(), r["attributes"]
        assert any(w.lower() in cap for w in style_words(a["style"])), cap
        words = set(cap.replace(",", " ").replace(".", " ").split())
        assert str(a["bpm"]) in cap or words & TEMPO_WORDS, cap


def test_same_seed_same_bytes_and_rerun_skips(corpus, tmp_path):
    out, _ = corpus
    again = _synth(tmp_path / "b")
    assert again.rendered == 3
    assert (out / "metadata.jsonl").read_text() == (tmp_path / "b" / "metadata.jsonl").read_text()
    for r in read_metadata(out / "metadata.jsonl"):
        assert (out / r["path"]).read_bytes() == (tmp_path / "b" / r["path"]).read_bytes()
    # a re-run renders nothing; a deleted clip is rendered again, identically
    rerun = _synth(tmp_path / "b")
    assert rerun.rendered == 0 and rerun.reused == 3
    victim = tmp_path / "b" / read_metadata(out / "metadata.jsonl")[1]["path"]
    victim.unlink()
    fixed = _synth(tmp_path / "b")
    assert fixed.rendered == 1 and fixed.reused == 2
    assert victim.read_bytes() == (out / victim.relative_to(tmp_path / "b")).read_bytes()
    assert (out / "metadata.jsonl").read_text() == (tmp_path / "b" / "metadata.jsonl").read_text()


def test_other_seed_differs(corpus, tmp_path):
    out, _ = corpus
    _synth(tmp_path / "c", seed=1, clips=1)
    a = read_metadata(out / "metadata.jsonl")[0]
    b = read_metadata(tmp_path / "c" / "metadata.jsonl")[0]
    assert (out / a["path"]).read_bytes() != (tmp_path / "c" / b["path"]).read_bytes()


def test_plan_is_prefix_stable_and_mixes_sources():
    big = [p for g in plan_corpus(400, seed=3) for p in g]
    small = [p for g in plan_corpus(57, seed=3) for p in g]
    assert [p.index for p in big] == list(range(400))
    assert small == big[:57]
    share = sum(p.work is not None for p in big) / len(big)
    assert 0.12 < share < 0.4
    assert not any(p.work for g in plan_corpus(50, seed=3, music21_share=0.0) for p in g)


@pytest.mark.slow
def test_workers_give_the_same_corpus(corpus, tmp_path):
    out, _ = corpus
    s = synthesize_corpus(
        tmp_path / "w", clips=3, seconds=2.0, seed=0, workers=2, soundfont=TIMGM, progress=False
    )
    assert s.rendered == 3
    assert (out / "metadata.jsonl").read_text() == (tmp_path / "w" / "metadata.jsonl").read_text()
    for r in read_metadata(out / "metadata.jsonl"):
        assert (out / r["path"]).read_bytes() == (tmp_path / "w" / r["path"]).read_bytes()


def test_cli_synth(tmp_path, capsys):
    from jen1.cli import main

    args = ["data", "synth", str(tmp_path / "cli"), "--clips", "1", "--seconds", "1"]
    rc = main([*args, "--soundfont", str(TIMGM), "--no-progress", "--music21-share", "0"])
    out = capsys.readouterr().out
    assert rc == 0 and "1 clips" in out and "x real time" in out
    assert main([*args, "--soundfont", str(tmp_path / "missing.sf2")]) == 2
    assert "soundfont not found" in capsys.readouterr().err


def test_metadata_carries_exact_control_labels(corpus):
    """Beats every 60/bpm s, a downbeat every bar of the meter, chords covering the clip
    (composer pieces; music21 pieces have no chord labels, and none past their first pass)."""
    from jen1.conditioning.controls import parse_chord

    out, _ = corpus
    for r in read_metadata(out / "metadata.jsonl"):
        a, lab = r["attributes"], r["labels"]
        composer = a["source"] == "composer"
        if not lab["beats"]:
            assert not composer
            continue
        beats, down = np.array(lab["beats"]), np.array(lab["downbeats"])
        assert beats[0] <= 0 < beats[1] and beats[-1] >= r["seconds"]
        assert np.allclose(np.diff(beats), 60 / a["bpm"], atol=2e-4)
        num, den = (int(x) for x in a["meter"].split("/"))
        beat_ql = 1.5 if den == 8 and num % 3 == 0 else 1.0  # as music21_source counts beats
        per_bar = round(num * 4 / den / beat_ql)
        assert np.allclose(np.diff(down), per_bar * 60 / a["bpm"], atol=2e-4)
        inside = down[(down >= 0) & (down <= r["seconds"])]  # each downbeat is a beat
        assert np.isclose(np.abs(beats[:, None] - inside[None]).min(axis=0), 0, atol=2e-4).all()
        chords = lab["chords"]
        if not composer:
            assert chords == []
            continue
        assert chords[0][0] == 0.0 and chords[-1][1] == r["seconds"]
        assert all(c[1] == d[0] for c, d in zip(chords, chords[1:]))  # contiguous
        assert all(parse_chord(c[2]) == c[2] for c in chords)  # canonical symbols

"""Attribute estimators on synthetic signals with known answers, prompt parsing, tag mapping."""

from __future__ import annotations

import numpy as np
import pytest

from tests.eval.eval_signals import chord_progression, click_track, drum_groove
from jen1.eval import adherence as A
from jen1.eval import music as M


@pytest.mark.parametrize("bpm", [72, 96, 120, 140, 160])
def test_tempo_of_click_tracks(bpm):
    est = M.estimate_tempo(click_track(bpm, seconds=8.0))
    assert M.tempo_outcome(est, bpm) == "correct", est
    assert est == pytest.approx(bpm, rel=0.01)


@pytest.mark.parametrize("bpm", [90, 110, 128])
def test_tempo_of_drum_grooves(bpm):
    assert M.tempo_outcome(M.estimate_tempo(drum_groove(bpm, seconds=8.0)), bpm) == "correct"


def test_tempo_outcomes():
    assert M.tempo_outcome(124.0, 120) == "correct"
    assert M.tempo_outcome(126.0, 120) == "wrong"
    assert M.tempo_outcome(60.5, 120) == "octave"
    assert M.tempo_outcome(241.0, 120) == "octave"
    assert M.tempo_outcome(90.0, 120) == "wrong"


@pytest.mark.parametrize(
    "key,mode",
    [
        ("C", "major"),
        ("A", "minor"),
        ("F#", "major"),
        ("D#", "minor"),
        ("G", "major"),
        ("B", "minor"),
    ],
)
def test_key_of_chord_progressions(key, mode):
    k, m, r = M.estimate_key(chord_progression(key, mode))
    assert (k, m) == (key, mode)
    assert r > 0.5


def test_key_relations():
    assert M.key_relation(("C", "major"), ("C", "major")) == "exact"
    assert M.key_relation(("G", "major"), ("C", "major")) == "fifth"
    assert M.key_relation(("F", "major"), ("C", "major")) == "fifth"
    assert M.key_relation(("A", "minor"), ("C", "major")) == "relative"
    assert M.key_relation(("Eb", "major"), ("C", "minor")) == "relative"
    assert M.key_relation(("C", "minor"), ("C", "major")) == "parallel"
    assert M.key_relation(("D", "major"), ("C", "major")) == "other"


def test_loudness_of_sines():
    t = np.arange(48000 * 3) / 48000
    s = 0.1 * np.sin(2 * np.pi * 1000 * t)  # -20 dBFS peak
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LUFS
    assert M.loudness_lufs(s) == pytest.approx(-23.01, abs=0.05)
    assert M.loudness_lufs(np.stack([s, s])) == pytest.approx(-20.0, abs=0.05)
    assert M.loudness_lufs(np.zeros((2, 48000))) == float("-inf")
    # the relative gate drops a stretch 22 dB below the tone (ungated it would read -26 LUFS;
    # the few blocks straddling the step still count)
    quiet = np.concatenate([s, 10 ** (-22 / 20) * s])
    assert M.loudness_lufs(quiet) == pytest.approx(-23.01, abs=0.3)


def test_k_weighting_matches_the_standard_48k_coefficients():
    (b1, a1), (b2, a2) = M._k_weighting(48000)
    np.testing.assert_allclose(
        b1, [1.53512485958697, -2.69169618940638, 1.19839281085285], rtol=1e-9
    )
    np.testing.assert_allclose(a1, [1.0, -1.69065929318241, 0.73248077421585], rtol=1e-9)
    np.testing.assert_allclose(a2, [1.0, -1.99004745483398, 0.99007225036621], rtol=1e-9)


def test_prompt_tags():
    assert A.prompt_tags("Slow piano ballad with strings at 70 beats per minute") == [
        "slow",
        "strings",
        "piano",
    ]
    tags = A.prompt_tags("Energetic electronic dance track with drum machine, 128 bpm")
    assert {"techno", "electronic", "drums"} <= set(tags) and "beats" not in tags
    assert "harp" not in A.prompt_tags("harpsichord solo")
    assert A.prompt_tags("a tuba and a trombone") == []


def test_tag_agreement():
    names = ["piano", "drums", "rock", "slow"]
    probs = np.array([[0.9, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1]])
    out = A.tag_agreement(probs, ["solo piano", "a tuba"], names)
    assert out["clips"] == 1
    assert out["mapped"] == pytest.approx(0.9) and out["unmapped"] == pytest.approx(0.1)
    assert out["difference"] == pytest.approx(0.8) and out["hit_at_5"] == 1.0
    assert A.tag_agreement(probs, ["a tuba", "a tuba"], names) == {"clips": 0}


def test_parse_attributes():
    a = A.parse_attributes("A slow piano ballad in Bb minor at 72 BPM")
    assert a["bpm"] == 72 and a["key"] == "A#" and a["mode"] == "minor"
    assert a["style"] == "piano ballad"
    b = A.parse_attributes("Bossa nova groove, F# major, 128 beats per minute")
    assert (b["bpm"], b["key"], b["mode"], b["style"]) == (128, "F#", "major", "bossa nova")
    c = A.parse_attributes("a tune in the key of E")
    assert c["key"] == "E" and "mode" not in c and "bpm" not in c
    assert A.parse_attributes("A minor role for the bass") == {"key": "A", "mode": "minor"}
    assert A.parse_attributes("a quiet evening") == {}


def test_style_classifier_separates_styles():
    rng = np.random.default_rng(0)
    centres = {
        "rock": np.full(6, 2.0),
        "jazz": np.full(6, -2.0),
        "folk": np.r_[np.full(3, 2.0), np.full(3, -2.0)],
    }
    feats, labels = [], []
    for name, c in centres.items():
        for _ in range(10):
            feats.append(c + rng.normal(size=(3, 6)))
            labels.append(name)
    clf = A.StyleClassifier.fit(feats, labels)
    assert clf.classes == ["folk", "jazz", "rock"]
    for name, c in centres.items():
        assert clf.predict(c + rng.normal(size=(3, 6))) == name
    clone = A.StyleClassifier.from_dict(clf.to_dict())
    np.testing.assert_allclose(clone.predict_proba(feats[0]), clf.predict_proba(feats[0]))


def test_clip_attributes_and_summary():
    wav = np.stack([click_track(120, 8.0)] * 2) + 0.5 * np.stack(
        [chord_progression("D", "minor")] * 2
    )
    row = A.clip_attributes(
        wav, {"bpm": 120, "key": "D", "mode": "minor", "style": "rock"}, style_pred="rock"
    )
    assert (
        row["tempo"] == "correct" and row["key"] == "exact" and row["mode_ok"] and row["style_ok"]
    )
    s = A.summarize_attributes([row, {**row, "tempo": "octave", "key": "fifth", "style_ok": False}])
    assert s["tempo"]["accuracy_4pct"] == 0.5 and s["tempo"]["octave_errors"] == 0.5
    assert s["key"]["exact"] == 0.5 and s["key"]["close"] == 1.0 and s["key"]["mirex"] == 0.75
    assert s["style"]["accuracy"] == 0.5
    assert s["loudness"]["method"].startswith("ITU-R BS.1770-4")

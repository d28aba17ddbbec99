"""`jen1 eval tasks`: tracks from consecutive segments, tempo/key comparison, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jen1.errors import Jen1Error
from jen1.eval.tasks import compare, read_tracks, summarize
from tests.eval.eval_signals import chord_progression, click_track

SR = 48000


def _music(bpm: float, key: str, seconds: float) -> np.ndarray:
    x = 0.5 * click_track(bpm, seconds) + chord_progression(key, "major", seconds)
    return np.stack([x, x]).astype(np.float32)


def _corpus(root, recordings, seconds=2.0):
    """recordings: {source: [(start_seconds, split), ...]}; every segment the same music."""
    from jen1.audio import save_audio

    rows = []
    for source, segs in recordings.items():
        for start, split in segs:
            path = f"audio/{source}_{int(start):04d}.wav"
            save_audio(root / path, _music(120, "C", seconds))
            attrs = {"source": source, "composition_id": source, "package": f"pkg-{source}",
                     "start_seconds": start}  # fmt: skip
            rows.append({"path": path, "seconds": seconds, "split": split,
                         "caption": f"{source} piano in C major", "attributes": attrs})  # fmt: skip
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_tracks_are_consecutive_segments_of_one_recording(tmp_path):
    root = _corpus(tmp_path, {
        "a": [(4.0, "test"), (0.0, "test"), (2.0, "test")],  # listed out of order
        "b": [(0.0, "test"), (4.0, "test"), (6.0, "test")],  # a hole at 2-4 s
        "c": [(0.0, "test")],  # too short
        "d": [(0.0, "train"), (2.0, "train")],  # another split
    })  # fmt: skip
    tracks = read_tracks(root, "test", 0, 4.0)
    assert [t.source for t in tracks] == ["a", "b"]
    assert [f.name for f in tracks[0].files] == ["a_0000.wav", "a_0002.wav"]
    assert [f.name for f in tracks[1].files] == ["b_0004.wav", "b_0006.wav"]  # after the hole
    assert tracks[0].package == "pkg-a"
    assert len(read_tracks(root, "test", 1, 4.0)) == 1
    with pytest.raises(Jen1Error, match="consecutive"):
        read_tracks(root, "test", 0, 8.0)
    with pytest.raises(Jen1Error, match="not a corpus"):
        read_tracks(tmp_path / "audio", "test", 0, 4.0)


def test_compare_tells_kept_tempo_and_key_from_changed_ones():
    kept = _music(120, "C", 8.0)
    same = compare(_music(120, "C", 8.0), kept, SR)
    assert same["tempo_ok"] and same["key_close"] and same["key"] == "exact"
    faster = compare(_music(150, "C", 8.0), kept, SR)
    assert not faster["tempo_ok"] and faster["tempo_error"] > 0.15
    assert compare(_music(120, "G", 8.0), kept, SR)["key"] == "fifth"  # close
    far = compare(_music(120, "F#", 8.0), kept, SR)
    assert far["key"] == "other" and not far["key_close"]
    s = summarize([same | {"splice": 1.0}, faster | {"splice": 3.0}])
    assert s["tempo_within_8pct"] == 0.5 and s["key_close"] == 1.0 and s["both"] == 0.5
    assert s["splice_median"] == 2.0


def test_cli_runs_both_tasks_and_the_real_reference(tiny_model_dir, tmp_path, capsys):
    from jen1.cli import main

    root = _corpus(tmp_path / "corpus", {"a": [(0.0, "test"), (2.0, "test")],
                                         "b": [(0.0, "test"), (2.0, "test")]})  # fmt: skip
    out = tmp_path / "out"
    args = ["eval", "tasks", "--model", str(tiny_model_dir), "--data", str(root),
            "--context", "2", "--seconds", "2", "--gap", "0.6", "--json",
            str(tmp_path / "r.json"), "--out", str(out), "--save-audio",
            "--no-progress"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "tempo and key kept" in text and "inpaint" in text
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["tracks"] == 2 and r["packages"] == 2 and r["gap"] == [1.7, 2.3]
    for task in ("continue", "inpaint"):
        assert len(r["rows"][task]) == 2
        real = r["summary"][task]["real"]
        assert real["tracks"] == 2 and real["key_close"] == 1.0  # the same music throughout
    assert (out / "tasks.png").stat().st_size > 1000
    assert sorted(p.name for p in (out / "audio").iterdir()) == [
        "000-continue.wav", "000-inpaint.wav", "001-continue.wav", "001-inpaint.wav"]  # fmt: skip
    # the continuation is the input's length plus what was asked
    from jen1.audio import load_audio

    assert load_audio(out / "audio" / "000-continue.wav").shape[-1] == 4 * SR


def test_cli_refuses_bad_lengths_before_loading(tmp_path, capsys):
    from jen1.cli import main

    root = _corpus(tmp_path / "corpus", {"a": [(0.0, "test"), (2.0, "test")]})
    assert main(["eval", "tasks", "--data", str(root), "--gap", "-1"]) == 2
    assert "--gap must be a positive" in capsys.readouterr().err
    assert main(["eval", "tasks", "--data", str(root), "--context", "2", "--seconds", "2",
                 "--gap", "5"]) == 2  # fmt: skip
    assert "shorter than the track" in capsys.readouterr().err

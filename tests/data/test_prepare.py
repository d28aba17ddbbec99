"""prepare_folder: odd formats, corrupt and uncaptioned files, segmentation, splits, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from jen1.data.metadata import read_metadata
from jen1.data.prepare import prepare_folder, segment_starts


def _tone(seconds: float, sr: int, channels: int, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.stack([0.3 * np.sin(2 * np.pi * freq * (c + 1) * t) for c in range(channels)], axis=1)


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "music"
    (d / "album").mkdir(parents=True)
    sf.write(d / "long.wav", _tone(25.0, 48000, 2), 48000)  # 3 segments: 0, 10, end-aligned
    (d / "long.txt").write_text("a long stereo tone\n")
    sf.write(d / "album" / "mono44.wav", _tone(12.0, 44100, 1), 44100)  # 1 segment (2 s rest < 5)
    (d / "album" / "mono44.txt").write_text("a mono tone at 44.1 kHz")
    sf.write(d / "surround.flac", _tone(10.0, 48000, 6), 48000)  # 5.1, captioned in the CSV
    (d / "metadata.csv").write_text("path,caption\nsurround.flac,a 5.1 tone\nmissing.wav,nobody\n")
    (d / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio at all")
    (d / "broken.txt").write_text("corrupt")
    sf.write(d / "nocap.ogg", _tone(6.0, 48000, 2), 48000)  # no caption anywhere
    sf.write(d / "short.wav", _tone(3.0, 48000, 2), 48000)
    (d / "short.txt").write_text("too short")
    sf.write(d / "silent.wav", np.zeros((480000, 2)), 48000)
    (d / "silent.txt").write_text("silence")
    return d


def test_segment_rules():
    assert segment_starts(250, 100, 100) == [(0, 100), (100, 100), (150, 100)]
    assert segment_starts(240, 100, 100) == [(0, 100), (100, 100)]
    assert segment_starts(60, 100, 100) == [(0, 60)]
    assert segment_starts(40, 100, 100) == []
    assert segment_starts(200, 100, 50) == [(0, 100), (50, 100), (100, 100)]


def test_prepare_keeps_good_files_and_reports_bad_ones(src, tmp_path):
    out = tmp_path / "prepared"
    s = prepare_folder(src, out, progress=False)
    assert s.files_found == 7 and s.files_kept == 3 and s.segments == 5
    reasons = dict(s.skipped)
    assert set(reasons) == {"broken.wav", "nocap.ogg", "short.wav", "silent.wav"}
    assert "broken.wav" in reasons["broken.wav"]
    assert "caption" in reasons["nocap.ogg"] and "half" in reasons["short.wav"]
    assert "silent" in reasons["silent.wav"] and s.silent_segments == 1
    assert s.unused_captions == 1
    recs = read_metadata(out / "metadata.jsonl")
    assert len(recs) == 5
    by_source: dict[str, set[str]] = {}
    for r in recs:
        wav, sr = sf.read(out / r["path"], dtype="float32")
        assert sr == 48000 and wav.shape == (480000, 2) and r["seconds"] == 10.0
        by_source.setdefault(r["attributes"]["source"], set()).add(r["split"])
    assert all(len(v) == 1 for v in by_source.values())  # split by source file
    caps = {r["attributes"]["source"]: r["caption"] for r in recs}
    assert caps == {
        "file:long.wav": "a long stereo tone",
        "file:album/mono44.wav": "a mono tone at 44.1 kHz",
        "file:surround.flac": "a 5.1 tone",
    }
    starts = sorted(
        r["attributes"]["start_seconds"]
        for r in recs
        if r["attributes"]["source"] == "file:long.wav"
    )
    assert starts == [0.0, 10.0, 15.0]
    mono = next(r for r in recs if "mono44" in r["path"])
    wav, _ = sf.read(out / mono["path"])
    assert np.allclose(wav[:, 0], wav[:, 1], atol=1e-4)  # mono copied to both channels


def test_default_caption_and_hop(src, tmp_path):
    s = prepare_folder(
        src,
        tmp_path / "p2",
        segment_seconds=4.0,
        hop_seconds=1.5,
        default_caption="some music",
        progress=False,
    )
    assert "nocap.ogg" not in dict(s.skipped)
    recs = read_metadata(tmp_path / "p2" / "metadata.jsonl")
    nocap = [r for r in recs if r["attributes"]["source"] == "file:nocap.ogg"]
    assert [r["caption"] for r in nocap] == ["some music"] * 2  # 6 s: windows at 0 and 1.5 s
    assert [r["attributes"]["start_seconds"] for r in nocap] == [0.0, 1.5]


def test_cli_prepare(src, tmp_path, capsys):
    from jen1.cli import main

    rc = main(["data", "prepare", str(src), str(tmp_path / "p3"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "5 segments" in out and "skipped broken.wav" in out
    assert main(["data", "prepare", str(tmp_path / "nowhere"), str(tmp_path / "p4")]) == 2

"""Control labels: synth-style steady grids, per-segment shifting, records, training crops."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from jen1.conditioning.control_tensors import BEAT, BEAT_GIVEN, CHORD_GIVEN, CHROMA
from jen1.data.control_labels import (
    chord_symbol,
    control_codes,
    crop_frames,
    record_controls,
    shift_labels,
    steady_labels,
)

RATE = 25.0


@pytest.mark.parametrize(
    "root, intervals, symbol",
    [(9, (0, 3, 7), "Am"), (7, (0, 4, 7, 10), "G7"), (3, (0, 4, 7, 11), "D#maj7"),
     (11, (0, 3, 6, 10), "Bm7b5"), (2, (0, 3, 7, 10, 14), "Dm9"), (0, (0, 4, 7, 10, 13), "C7")],
)  # fmt: skip
def test_chord_symbols_of_the_composers_chords(root, intervals, symbol):
    assert chord_symbol(root, intervals) == symbol


def test_steady_labels_of_a_window_are_in_clip_time():
    chords = [(0.0, 4.0, "C"), (4.0, 4.0, "Am"), (8.0, 4.0, "F")]  # beats of the piece
    lab = steady_labels(120.0, 4, start=2.0, seconds=3.0, chords=chords)
    assert lab["beats"][0] == 0.0 and lab["beats"][-1] == 3.0 and len(lab["beats"]) == 7
    assert np.allclose(np.diff(lab["beats"]), 0.5)
    assert lab["downbeats"] == [0.0, 2.0, 4.0]  # bar 1 of the piece starts the clip
    off = steady_labels(120.0, 4, start=2.2, seconds=3.0)
    assert off["beats"][0] == -0.2 and off["downbeats"][0] == -0.2  # grids reach past the ends
    assert lab["chords"] == [[0.0, 2.0, "Am"], [2.0, 3.0, "F"]]


def test_a_segment_gets_the_labels_of_its_own_time():
    whole = steady_labels(100.0, 3, 0.0, 10.0, [(0.0, 3.0, "C"), (3.0, 3.0, "G")])
    seg = shift_labels(whole, 3.0, 4.0)
    direct = steady_labels(100.0, 3, 3.0, 4.0, [(0.0, 3.0, "C"), (3.0, 3.0, "G")])
    assert np.allclose(seg["beats"], direct["beats"]) and seg["chords"] == direct["chords"]
    assert np.allclose(seg["downbeats"], direct["downbeats"])
    assert seg["beats"][0] <= 0 < seg["beats"][1] and seg["beats"][-1] >= 4.0


def test_record_controls_take_true_labels_or_estimates_and_skip_what_does_not_parse():
    synth = {"attributes": {"bpm": 90, "key": "Eb", "mode": "minor", "meter": "3/4",
                            "composition_id": "c"}, "labels": {"beats": [0.0, 0.6667]}}  # fmt: skip
    assert record_controls(synth) == {
        "bpm": 90, "key": "Eb", "mode": "minor", "meter": "3/4", "beats": [0.0, 0.6667]
    }  # fmt: skip
    user = {"attributes": {"estimated": {"bpm": 128.3, "key": "A", "mode": "minor",
                                         "meter": "7/3"}, "composition_id": "f"}}  # fmt: skip
    assert record_controls(user) == {"bpm": 128.3, "key": "A", "mode": "minor"}
    assert record_controls({"attributes": {"composition_id": "x"}}) is None
    assert control_codes(record_controls(synth)) == (90.0, 4, 2, 3, 3)
    assert control_codes(None) == (0.0, 0, 0, 0, 0)


def test_a_crop_of_the_labels_is_the_crop_of_the_clips_channels():
    entry = {"bpm": 120, **steady_labels(120.0, 4, 0.0, 8.0, [(0.0, 2.0, "Am"), (2.0, 2.0, "E")])}
    whole = crop_frames(entry, 0.0, 200, RATE)
    part = crop_frames(entry, 40 / RATE, 100, RATE)  # frames 40..139 of the clip
    assert np.allclose(part, whole[:, 40:140], atol=1e-5)
    assert whole[BEAT_GIVEN].all()
    assert whole[CHORD_GIVEN, :50].all() and not whole[CHORD_GIVEN, 50:].any()  # 2 s of chords
    assert not crop_frames(None, 0.0, 10, RATE).any()


@pytest.fixture
def labelled_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    t = np.arange(6 * 48000) / 48000
    wav = 0.3 * np.sin(2 * np.pi * 220 * t)
    sf.write(src / "song.wav", np.stack([wav, wav], 1).astype(np.float32), 48000)
    labels = steady_labels(120.0, 4, 0.0, 6.0, [(0.0, 4.0, "C"), (4.0, 4.0, "G")])
    row = {"path": "song.wav", "caption": "a song",
           "attributes": {"bpm": 120, "key": "C", "mode": "major"}, "labels": labels}  # fmt: skip
    (src / "metadata.jsonl").write_text(json.dumps(row) + "\n")
    return src, labels


def test_data_prepare_cuts_the_labels_per_segment(labelled_folder, tmp_path):
    from jen1.data.metadata import read_metadata
    from jen1.data.prepare import prepare_folder

    src, labels = labelled_folder
    out = tmp_path / "out"
    prepare_folder(src, out, segment_seconds=3.0, progress=False)
    recs = sorted(read_metadata(out / "metadata.jsonl"), key=lambda r: r["path"])
    assert [r["attributes"]["start_seconds"] for r in recs] == [0.0, 3.0]
    second = recs[1]["labels"]
    assert second == shift_labels(labels, 3.0, 3.0)
    assert second["chords"] == [[0.0, 1.0, "G"]]  # G sounds from 2 s to 4 s of the file
    assert record_controls(recs[1])["bpm"] == 120  # the file's tempo, as estimated attribute


def test_latent_dataset_hands_out_the_crops_labels():
    from jen1.data.latents import LatentDataset

    entry = {"bpm": 120, "key": "A", "mode": "minor", "meter": "4/4",
             **steady_labels(120.0, 4, 0.0, 8.0, [(0.0, 4.0, "Am")])}  # fmt: skip
    data = {
        "z": torch.randn(2, 3, 200), "lengths": torch.tensor([200, 50]),
        "text_emb": torch.zeros(2, 4, 5), "text_mask": torch.ones(2, 4, dtype=torch.bool),
        "captions": ["a", "b"], "controls": [entry, None],
    }  # fmt: skip
    norm = type("Id", (), {"normalize": staticmethod(lambda z: z)})()
    ds = LatentDataset(data, norm, 80, seed=1, frame_rate=RATE)
    item = ds[0]
    start = int(torch.nonzero(torch.all(data["z"][0].unfold(1, 80, 1).permute(1, 0, 2)
                                        == item["z"], dim=(1, 2)))[0])  # fmt: skip
    want = crop_frames(entry, start / RATE, 80, RATE)
    assert torch.allclose(item["control_frames"], torch.from_numpy(want))
    assert item["control_bpm"] == 120 and item["control_codes"].tolist() == [10, 2, 4, 3]
    assert item["control_frames"][CHROMA].any()
    empty = ds[1]
    assert empty["control_bpm"] == 0 and not empty["control_frames"].any()
    assert not item["control_frames"][BEAT].isnan().any()
    plain = LatentDataset({**data, "controls": None}, norm, 80, seed=1, frame_rate=RATE)
    assert "control_frames" not in plain[0]  # an older cache: no labels

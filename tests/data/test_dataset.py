"""AudioClipDataset: crop length and padding, deterministic crops, augmentation, collate."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from jen1.data.dataset import AudioClipDataset, collate
from jen1.errors import AudioError, Jen1Error


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    recs = []
    for i, (seconds, split) in enumerate([(2.0, "train"), (0.5, "train"), (1.5, "val")]):
        n = int(seconds * 48000)
        left = np.linspace(-0.5, 0.5, n)  # a ramp: the crop offset can be read back
        wav = np.stack([left, 0.25 * rng.standard_normal(n).clip(-1, 1)], axis=1)
        sf.write(tmp_path / f"c{i}.wav", wav, 48000, subtype="FLOAT")
        recs.append(
            {
                "path": f"c{i}.wav",
                "seconds": seconds,
                "caption": f"clip {i}",
                "split": split,
                "attributes": {"source": "test", "composition_id": f"c{i}", "bpm": 100 + i},
            }
        )
    (tmp_path / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return tmp_path


def test_crop_length_padding_and_attributes(data_dir):
    ds = AudioClipDataset(data_dir, "train", segment_seconds=1.0, augment=False)
    assert len(ds) == 2 and ds.attributes(1)["bpm"] == 101
    item = ds[0]
    assert item["wav"].shape == (2, 48000) and item["wav"].dtype == torch.float32
    assert item["caption"] == "clip 0" and item["index"] == 0
    src, _ = sf.read(data_dir / "c0.wav", dtype="float32")
    start = int(np.argmin(np.abs(src[:, 0] - item["wav"][0, 0].item())))
    assert np.allclose(item["wav"].numpy().T, src[start : start + 48000])
    short = ds[1]["wav"]
    assert (
        short.shape == (2, 48000)
        and torch.all(short[:, 24000:] == 0)
        and short[:, :24000].abs().sum() > 0
    )


def test_crops_are_deterministic_per_epoch(data_dir):
    ds = AudioClipDataset(data_dir, "train", segment_seconds=0.5, seed=3)
    again = AudioClipDataset(data_dir, "train", segment_seconds=0.5, seed=3)
    assert torch.equal(ds[0]["wav"], again[0]["wav"])
    crops = []
    for epoch in range(4):
        ds.set_epoch(epoch)
        crops.append(ds[0]["wav"])
    assert not all(torch.equal(crops[0], c) for c in crops[1:])


def test_augmentation_gain_and_swap(data_dir):
    plain = AudioClipDataset(data_dir, "train", segment_seconds=1.0, augment=False)
    aug = AudioClipDataset(data_dir, "train", segment_seconds=1.0, augment=True)
    swaps, gains = 0, []
    for epoch in range(24):
        plain.set_epoch(epoch)
        aug.set_epoch(epoch)
        a, b = plain[0]["wav"], aug[0]["wav"]
        swapped = not torch.allclose(b[0] / b[0].abs().max(), a[0] / a[0].abs().max(), atol=1e-5)
        if swapped:
            b = b.flip(0)
        swaps += swapped
        ratio = (b.abs().sum() / a.abs().sum()).item()
        assert torch.allclose(b, a * ratio, atol=1e-5)
        gains.append(20 * np.log10(ratio))
        assert b.abs().max() <= 1.0
    assert 0 < swaps < 24
    assert min(gains) >= -6.01 and max(gains) <= 6.01 and max(gains) - min(gains) > 3


def test_collate_and_errors(data_dir, tmp_path):
    ds = AudioClipDataset(data_dir, "all", segment_seconds=0.25)
    batch = collate([ds[i] for i in range(3)])
    assert batch["wav"].shape == (3, 2, 12000) and batch["caption"] == [
        "clip 0",
        "clip 1",
        "clip 2",
    ]
    assert batch["index"].tolist() == [0, 1, 2]
    with pytest.raises(Jen1Error, match="no clips in split 'test'"):
        AudioClipDataset(data_dir, "test", segment_seconds=1.0)
    with pytest.raises(Jen1Error, match="metadata.jsonl"):
        AudioClipDataset(tmp_path / "empty", segment_seconds=1.0)
    sf.write(data_dir / "c0.wav", np.zeros((44100, 2)), 44100)
    with pytest.raises(AudioError, match="44100"):
        AudioClipDataset(data_dir, "train", segment_seconds=1.0)[0]

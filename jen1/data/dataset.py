"""Training clips from a data folder (``metadata.jsonl`` + 48 kHz audio) as a torch Dataset.

Each item is a crop of ``segment_seconds`` (zero-padded at the end when the file is shorter),
with optional augmentation: a random gain of +-6 dB (lowered so nothing clips) and a random
left/right swap. The crop offset, gain and swap come from ``(seed, epoch, index)`` alone, so a
run is reproducible whatever the DataLoader workers do; call :meth:`AudioClipDataset.set_epoch`
before each epoch (DataLoader workers that are re-created every epoch pick the new value up).
Files are read with soundfile, only the cropped frames; they must already be 48 kHz (the corpus
and ``jen1 data prepare`` write 48 kHz), so no resampling happens here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from jen1.audio import SAMPLE_RATE, to_stereo
from jen1.data.metadata import METADATA, SPLITS, read_metadata
from jen1.errors import AudioError, Jen1Error

MAX_GAIN_DB = 6.0


class AudioClipDataset(Dataset):
    """Captioned audio crops of one split of a data folder.

    Args:
        data_dir: folder with ``metadata.jsonl`` (paths inside are relative to it).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        segment_seconds: crop length; L = round(segment_seconds * 48000) samples.
        augment: random gain and channel swap.
        seed: base of the per-item random streams.
    """

    def __init__(
        self,
        data_dir: str | Path,
        split: str = "train",
        *,
        segment_seconds: float,
        augment: bool = True,
        seed: int = 0,
    ) -> None:
        self.data_dir = Path(data_dir)
        if split not in (*SPLITS, "all"):
            raise Jen1Error(f"unknown split '{split}': use one of {', '.join(SPLITS)} or all")
        records = read_metadata(self.data_dir / METADATA)
        self.records = [r for r in records if split == "all" or r["split"] == split]
        if not self.records:
            raise Jen1Error(f"no clips in split '{split}' of {self.data_dir / METADATA}")
        self.num_samples = round(segment_seconds * SAMPLE_RATE)
        if self.num_samples <= 0:
            raise Jen1Error(f"segment_seconds must be positive, got {segment_seconds}")
        self.split = split
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Select the random crops/augmentation of ``epoch``."""
        self.epoch = int(epoch)

    def attributes(self, i: int) -> dict[str, Any]:
        """The stored attributes of clip ``i`` (style, bpm, key, ... for synthesised clips)."""
        return dict(self.records[i]["attributes"])

    def caption(self, i: int) -> str:
        return self.records[i]["caption"]

    def _read_crop(self, path: Path, rng: np.random.Generator) -> np.ndarray:
        """(2, L) float32 crop of ``path`` at a random offset; zero-padded if the file is short."""
        import soundfile as sf

        length = self.num_samples
        try:
            with sf.SoundFile(str(path)) as f:
                if f.samplerate != SAMPLE_RATE:
                    raise AudioError(
                        f"{path}: {f.samplerate} Hz, expected {SAMPLE_RATE} "
                        "(convert the folder with `jen1 data prepare`)"
                    )
                frames = f.frames
                start = int(rng.integers(0, frames - length + 1)) if frames > length else 0
                f.seek(start)
                data = f.read(min(length, frames), dtype="float32", always_2d=True)  # (L, channels)
        except AudioError:
            raise
        except Exception as e:  # noqa: BLE001 - soundfile raises several types; name the file
            raise AudioError(f"cannot read audio file {path}: {e}") from None
        wav = to_stereo(np.ascontiguousarray(data.T))  # (channels, L) -> (2, L)
        if wav.shape[-1] < length:
            wav = np.pad(wav, ((0, 0), (0, length - wav.shape[-1])))
        return wav

    def __getitem__(self, index: int) -> dict[str, Any]:
        """{"wav": FloatTensor (2, L), "caption": str, "index": int}."""
        rec = self.records[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        wav = self._read_crop(self.data_dir / rec["path"], rng)
        if self.augment:
            gain = 10 ** (rng.uniform(-MAX_GAIN_DB, MAX_GAIN_DB) / 20)
            peak = float(np.max(np.abs(wav)))
            if peak * gain > 1.0:
                gain = 1.0 / peak
            wav = wav * np.float32(gain)
            if rng.random() < 0.5:
                wav = wav[::-1]
        return {
            "wav": torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)),
            "caption": rec["caption"],
            "index": index,
        }


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack items: {"wav": (B, 2, L), "caption": list[str] (B), "index": LongTensor (B,)}."""
    return {
        "wav": torch.stack([b["wav"] for b in batch]),
        "caption": [b["caption"] for b in batch],
        "index": torch.tensor([b["index"] for b in batch], dtype=torch.long),
    }

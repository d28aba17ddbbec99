"""Latent cache for diffusion training: every clip encoded once by the autoencoder.

Layout of a cache directory::

    index.json                 clips per split, shard files, text encoder, latent rate
    autoencoder/               the model directory used (config + weights, with the latent
                               normaliser's statistics computed over the train split)
    train-00000.safetensors    z (N,C,T) fp16 raw latents, lengths (N,), text_emb (N,S,D) fp16,
    ...                        text_mask (N,S) uint8, clip (N,) metadata line numbers

The latent normaliser (JEN-1 Algorithm 1: channel means and a whitening matrix accumulated
incrementally over batches) is fitted here, on the train split, and stored with the
autoencoder; :class:`LatentDataset` returns normalised latents.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from jen1.config import Jen1Config, TextConfig
from jen1.data.control_labels import record_controls
from jen1.data.metadata import METADATA, read_metadata
from jen1.errors import Jen1Error

INDEX = "index.json"
SHARD_SIZE = 256


@torch.inference_mode()
def build_latent_cache(
    data_dir: str | Path,
    model_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    text_cfg: TextConfig | None = None,
    batch_size: int = 8,
    progress: bool = True,
    overwrite: bool = False,
    lowband_view: str | None = None,
) -> dict[str, Any]:
    """Encode every clip of a corpus (``metadata.jsonl``) into a latent cache.

    Args:
        data_dir: corpus directory (``jen1 data synth`` / ``jen1 data prepare`` output).
        model_dir: model directory holding the trained autoencoder.
        out_dir: cache directory (default ``DATA_DIR/latents``).
        text_cfg: text encoder to embed the captions with (default: MiniLM).
        lowband_view: ``autoencoder.lowband_view`` of the cache (and of the autoencoder copy
            it keeps, which models trained on it inherit); default: the autoencoder's own.

    Returns:
        Summary dict: clips per split, frames, seconds of audio, wall time.
    """
    import time

    from tqdm import tqdm

    from jen1.audio import load_audio
    from jen1.checkpoint import save_model_dir
    from jen1.fsutil import atomic_write
    from jen1.conditioning.text import load_text_encoder
    from jen1.models import load_autoencoder

    data_dir = Path(data_dir)
    out = Path(out_dir) if out_dir else data_dir / "latents"
    if (out / INDEX).exists() and not overwrite:
        raise Jen1Error(f"{out} already holds a latent cache (pass --overwrite to rebuild it)")
    text_cfg = text_cfg or TextConfig()
    rows = read_metadata(data_dir / METADATA, line_numbers=True)
    cfg, ae = load_autoencoder(model_dir)
    if lowband_view is not None:  # checked (one-line ConfigError) before any clip is encoded
        import dataclasses

        view = dataclasses.replace(cfg.autoencoder, lowband_view=lowband_view)
        cfg = dataclasses.replace(cfg, autoencoder=view)
    enc = load_text_encoder(text_cfg)
    t0 = time.perf_counter()
    splits: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        splits.setdefault(r.get("split", "train"), []).append(r)
    if "train" not in splits:
        raise Jen1Error(f"{data_dir}/metadata.jsonl has no clips in the train split")
    out.mkdir(parents=True, exist_ok=True)
    from jen1.autoencoder.lowband_view import to_view
    from jen1.autoencoder.normalizer import LatentNormalizer

    ae.normalizer = LatentNormalizer(cfg.autoencoder.latent_dim)  # refit on this corpus
    index: dict[str, Any] = {
        "text_encoder": text_cfg.name,
        "text_max_length": text_cfg.max_length,
        "frame_rate": cfg.autoencoder.frame_rate,
        "data_dir": str(data_dir),
        "splits": {},
    }
    total_seconds = 0.0
    bar = tqdm(total=len(rows), desc="encode", unit="clip", disable=not progress)
    for split in sorted(splits, key=lambda s: s != "train"):  # train first: fits the normaliser
        items = splits[split]
        shards = []
        for s0 in range(0, len(items), SHARD_SIZE):
            chunk = items[s0 : s0 + SHARD_SIZE]
            zs, lengths = [], []
            for b0 in range(0, len(chunk), batch_size):
                batch = chunk[b0 : b0 + batch_size]
                wavs = [torch.from_numpy(load_audio(data_dir / r["path"])) for r in batch]
                for w in wavs:
                    total_seconds += w.shape[-1] / cfg.autoencoder.sample_rate
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        z = ae.encode_chunked(w[None]).float()
                    z = to_view(cfg.autoencoder, z)[0]  # (C, T): what the U-Net sees
                    if split == "train":
                        ae.normalizer.update(z[None])
                    zs.append(z)
                    lengths.append(z.shape[-1])
                bar.update(len(batch))
            t_max = max(lengths)
            z_pad = torch.zeros(len(zs), zs[0].shape[0], t_max)
            for i, z in enumerate(zs):
                z_pad[i, :, : z.shape[-1]] = z
            emb, mask = enc.encode([r["caption"] for r in chunk])
            s_pad = text_cfg.max_length
            emb_p = torch.zeros(len(chunk), s_pad, emb.shape[-1])
            mask_p = torch.zeros(len(chunk), s_pad, dtype=torch.uint8)
            emb_p[:, : emb.shape[1]] = emb
            mask_p[:, : mask.shape[1]] = mask.to(torch.uint8)
            name = f"{split}-{len(shards):05d}.safetensors"
            from safetensors.torch import save_file

            shard = {
                "z": z_pad.half(),
                "lengths": torch.tensor(lengths),
                "text_emb": emb_p.half(),
                "text_mask": mask_p,
                "clip": torch.tensor([r["_line"] for r in chunk]),
            }
            # safetensors creates its files 0o600; atomic_write gives the umask's mode
            atomic_write(out / name, lambda p, shard=shard: save_file(shard, str(p)))
            shards.append(name)
        index["splits"][split] = {
            "clips": len(items),
            "shards": shards,
            "captions": [r["caption"] for r in items],
            # musical-control labels per clip (None: none), cut per crop by LatentDataset
            "controls": [record_controls(r) for r in items],
        }
        if split == "train":
            ae.normalizer.finalize()
    bar.close()
    ae_dir = out / "autoencoder"
    if ae_dir.exists():
        shutil.rmtree(ae_dir)
    save_model_dir(ae_dir, cfg, {"autoencoder": ae.state_dict()})
    card = Path(model_dir) / "model_card.md"
    if card.exists():
        shutil.copyfile(card, ae_dir / "model_card.md")  # the umask's mode, not the source's
    (out / INDEX).write_text(json.dumps(index, indent=1))
    wall = time.perf_counter() - t0
    return {
        "out": str(out),
        "clips": {k: len(v) for k, v in splits.items()},
        "audio_seconds": total_seconds,
        "wall_seconds": wall,
        "x_realtime": total_seconds / max(wall, 1e-9),
    }


class LatentCache:
    """Read access to a cache made by :func:`build_latent_cache`."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        path = self.dir / INDEX
        if not path.exists():
            raise Jen1Error(
                f"{self.dir} is not a latent cache (no {INDEX}): run 'jen1 data encode DATA_DIR "
                "--autoencoder MODEL_DIR' first"
            )
        self.index = json.loads(path.read_text())
        from jen1.checkpoint import load_config_from_dir

        self.config: Jen1Config = load_config_from_dir(self.dir / "autoencoder")
        self.text_encoder: str = self.index["text_encoder"]

    def autoencoder_state(self) -> dict[str, torch.Tensor]:
        from jen1.checkpoint import load_model_dir

        return load_model_dir(self.dir / "autoencoder", ("autoencoder",))[1]["autoencoder"]

    def normalizer(self):
        from jen1.autoencoder.normalizer import LatentNormalizer

        norm = LatentNormalizer(self.config.autoencoder.latent_dim)
        state = {
            k[len("normalizer.") :]: v
            for k, v in self.autoencoder_state().items()
            if k.startswith("normalizer.")
        }
        norm.load_state_dict(state, strict=True)
        return norm

    def load_split(self, split: str) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        if split not in self.index["splits"]:
            raise Jen1Error(f"latent cache {self.dir} has no '{split}' split")
        parts = [load_file(str(self.dir / s)) for s in self.index["splits"][split]["shards"]]
        t_max = max(p["z"].shape[-1] for p in parts)
        z = torch.cat(
            [torch.nn.functional.pad(p["z"], (0, t_max - p["z"].shape[-1])) for p in parts]
        )
        return {
            "z": z,
            "lengths": torch.cat([p["lengths"] for p in parts]),
            "text_emb": torch.cat([p["text_emb"] for p in parts]),
            "text_mask": torch.cat([p["text_mask"] for p in parts]).bool(),
            "captions": self.index["splits"][split]["captions"],
            "controls": self.index["splits"][split].get("controls"),  # None: an older cache
        }

    def dataset(
        self, split: str, num_frames: int, seed: int = 0, normalizer: torch.nn.Module | None = None
    ) -> "LatentDataset":
        """The ``split`` normalised by ``normalizer`` (default: the one fitted with this cache)."""
        norm = self.normalizer() if normalizer is None else normalizer
        rate = float(self.index["frame_rate"])
        return LatentDataset(self.load_split(split), norm, num_frames, seed, frame_rate=rate)


class LatentDataset(Dataset):
    """Normalised latent crops of ``num_frames`` with their caption embeddings.

    Items: {"z": (C, num_frames) float32 normalised, "text_emb": (S, D) float32,
    "text_mask": (S,) bool, "caption": str}. Crops are drawn from (seed, epoch, index). A cache
    with control labels adds "control_bpm" () float, "control_codes" (4,) long (tonic, mode,
    meter numerator and denominator; 0 = absent) and "control_frames" (K, num_frames) float,
    the time-aligned channels of the crop (:mod:`jen1.data.control_labels`).
    """

    def __init__(
        self,
        data: dict[str, Any],
        normalizer: torch.nn.Module,
        num_frames: int,
        seed: int = 0,
        frame_rate: float | None = None,
    ):
        self.data = data
        self.norm = normalizer
        self.num_frames = num_frames
        self.seed = seed
        self.epoch = 0
        self.frame_rate = frame_rate  # needed for control labels (seconds -> frames)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return int(self.data["z"].shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        length = int(self.data["lengths"][i])
        z = self.data["z"][i, :, :length].float()
        start = 0
        if length > self.num_frames:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch * 7_919 + i)
            start = int(torch.randint(0, length - self.num_frames + 1, (1,), generator=g))
            z = z[:, start : start + self.num_frames]
        elif length < self.num_frames:
            z = torch.nn.functional.pad(z, (0, self.num_frames - length))
        with torch.no_grad():
            z = self.norm.normalize(z[None])[0]
        item = {
            "z": z,
            "text_emb": self.data["text_emb"][i].float(),
            "text_mask": self.data["text_mask"][i],
            "caption": self.data["captions"][i],
        }
        controls = self.data.get("controls")
        if controls is not None and self.frame_rate is not None:
            from jen1.data.control_labels import control_codes, crop_frames

            entry = controls[i]
            bpm, *codes = control_codes(entry)
            offset = start / self.frame_rate  # the crop's labels, in the crop's own time
            frames = crop_frames(entry, offset, self.num_frames, self.frame_rate)
            item["control_bpm"] = torch.tensor(bpm, dtype=torch.float32)
            item["control_codes"] = torch.tensor(codes, dtype=torch.long)
            item["control_frames"] = torch.from_numpy(frames)
        return item

"""LoRA adapter files: ``DIR/adapter.safetensors``, the factors and their config in one file.

``jen1 export`` of a LoRA run writes one; ``--adapter DIR`` (CLI), ``Pipeline.from_pretrained(
..., adapter=DIR)`` and ``jen1 serve --adapter DIR`` apply it. The file holds ``{layer}.lora_A``
(r, fan_in) and ``{layer}.lora_B`` (C_out, r) per adapted layer (:mod:`jen1.diffusion.lora`)
and in its metadata, under ``"adapter"``, a JSON object: format and version, rank, alpha,
target modules, the training step, and the identity of the base model it was trained on:

- ``arch``: the base's U-Net config, latent width and text encoder; an adapter whose ``arch``
  differs from the model's is refused, with the first differing field named;
- ``shapes``: a hash of the base U-Net's parameter names and shapes (refused when different);
- ``weights``: a hash of a strided sample of the base weights, rounded to bf16 so that a
  float32 and a bf16 export of one model agree. Another value is allowed (an adapter on a
  model fine-tuned from its base is a known use) but warned about.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from jen1 import __version__
from jen1.config import Jen1Config
from jen1.diffusion.lora import LoRASpec
from jen1.errors import CheckpointError

ADAPTER_FILE = "adapter.safetensors"
FORMAT = "jen1-lora"
FORMAT_VERSION = 1
_SAMPLE = 4096  # weights sampled per tensor for the weights hash (cheap for the paper model)


class AdapterMismatch(CheckpointError):
    """An adapter trained for another base model than the one it is applied to."""


class AdapterWarning(UserWarning):
    """An adapter applied to a model with the same architecture but other weights."""


def base_identity(cfg: Jen1Config, unet_state: dict[str, Tensor]) -> dict[str, Any]:
    """What identifies the base model of an adapter: architecture, shapes hash, weights hash."""
    arch = {
        "unet": json.loads(json.dumps(dataclasses.asdict(cfg.unet))),
        "latent_dim": cfg.autoencoder.latent_dim,
        "text": {"name": cfg.text.name, "dim": cfg.text.dim},
    }
    shapes = hashlib.sha256()
    weights = hashlib.sha256()
    for k in sorted(unet_state):
        v = unet_state[k].detach()
        shapes.update(f"{k}:{tuple(v.shape)}\n".encode())
        flat = v.flatten()
        sample = flat[:: max(1, flat.numel() // _SAMPLE)][:_SAMPLE]
        if sample.is_floating_point():
            sample = sample.to(torch.bfloat16).view(torch.int16)
        weights.update(sample.cpu().contiguous().numpy().tobytes())
    return {
        "name": cfg.name,
        "arch": arch,
        "shapes": shapes.hexdigest()[:16],
        "weights": weights.hexdigest()[:16],
    }


@dataclass(frozen=True)
class Adapter:
    """A loaded adapter: its spec, factors (float32) and metadata."""

    spec: LoRASpec
    state: dict[str, Tensor]
    base: dict[str, Any]
    step: int
    path: Path

    @property
    def num_parameters(self) -> int:
        return sum(v.numel() for v in self.state.values())

    def check_base(self, cfg: Jen1Config, unet_state: dict[str, Tensor] | None = None) -> None:
        """Refuse a model of another architecture (one line naming the first difference).

        With ``unet_state`` the shapes hash is checked too, and other base weights warned about.
        """
        mine = self.base["arch"]
        theirs = base_identity(cfg, {})["arch"]
        for part in ("unet", "text"):
            for k in sorted(set(mine[part]) | set(theirs[part])):
                a, b = mine[part].get(k), theirs[part].get(k)
                if a != b:
                    raise AdapterMismatch(
                        f"adapter {self.path} is for another model: its base has {part}.{k} = "
                        f"{json.dumps(a)}, this model {json.dumps(b)}"
                    )
        if mine["latent_dim"] != theirs["latent_dim"]:
            raise AdapterMismatch(
                f"adapter {self.path} is for another model: its base has latent_dim = "
                f"{mine['latent_dim']}, this model {theirs['latent_dim']}"
            )
        if unet_state is None:
            return
        ident = base_identity(cfg, unet_state)
        if ident["shapes"] != self.base["shapes"]:
            raise AdapterMismatch(
                f"adapter {self.path} is for another model: the U-Net's parameter shapes differ "
                f"(hash {self.base['shapes']} there, {ident['shapes']} here)"
            )
        if ident["weights"] != self.base["weights"]:
            warnings.warn(
                f"adapter {self.path} was trained on other weights of this architecture "
                f"('{self.base.get('name')}', weights {self.base['weights']}; these "
                f"{ident['weights']}): applying it anyway",
                AdapterWarning,
                stacklevel=2,
            )


def save_adapter(
    directory: str | Path,
    spec: LoRASpec,
    state: dict[str, Tensor],
    base: dict[str, Any],
    *,
    step: int = 0,
    dtype: torch.dtype | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``DIR/adapter.safetensors`` (atomically) -> its path."""
    from safetensors.torch import save_file

    from jen1.fsutil import atomic_write

    directory = Path(directory)
    path = directory / ADAPTER_FILE
    if path.exists() and not overwrite:
        raise CheckpointError(f"{directory} already holds an adapter (pass --overwrite)")
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        **spec.to_dict(),
        "step": int(step),
        "base": base,
        "jen1_version": __version__,
    }
    tensors = {
        k: v.detach().to(dtype or torch.float32).cpu().contiguous() for k, v in state.items()
    }
    metadata = {"adapter": json.dumps(meta)}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=metadata))
    return path


def load_adapter(path: str | Path) -> Adapter:
    """Read an adapter from its directory (or the file itself) -> :class:`Adapter` (float32)."""
    from safetensors import SafetensorError, safe_open

    from jen1.errors import Jen1Error

    path = Path(path)
    file = path / ADAPTER_FILE if path.is_dir() else path
    if not file.exists():
        what = "directory has no " + ADAPTER_FILE if path.is_dir() else "does not exist"
        raise CheckpointError(f"adapter {path} {what} (make one with jen1 export of a LoRA run)")
    try:
        with safe_open(str(file), framework="pt") as f:
            raw = (f.metadata() or {}).get("adapter")
            state = {k: f.get_tensor(k).float() for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"adapter file {file} is truncated or corrupt ({msg})") from None
    try:
        meta = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        meta = {}
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not a jen1 LoRA adapter (no '{FORMAT}' metadata)")
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"adapter {file} has format version {meta['version']}; this jen1 reads up to "
            f"{FORMAT_VERSION}: upgrade jen1"
        )
    try:
        spec = LoRASpec.from_dict(meta)
    except (KeyError, TypeError, ValueError, Jen1Error) as e:
        raise CheckpointError(f"adapter {file} has a bad config ({e})") from None
    return Adapter(spec, state, meta["base"], int(meta.get("step", 0)), file)

"""Model directories: ``model.safetensors`` + ``config.json`` (+ ``model_card.md``).

The safetensors file holds every component's tensors under a prefix (``autoencoder.``,
``unet.``), and its metadata repeats the config JSON and the jen1 version. Loading is strict:
keys that are missing or unexpected are listed in the error. Nothing is ever unpickled.
Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from jen1 import __version__
from jen1.config import ConfigError, Jen1Config
from jen1.errors import CheckpointError
from jen1.fsutil import atomic_write, atomic_write_text

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "model_card.md"


def flatten_state(components: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """{"unet": {"a.weight": ...}} -> {"unet.a.weight": ...}."""
    out: dict[str, torch.Tensor] = {}
    for prefix, sd in components.items():
        for k, v in sd.items():
            out[f"{prefix}.{k}"] = v
    return out


def split_state(flat: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """Inverse of :func:`flatten_state`: split on the first dot."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in flat.items():
        prefix, _, rest = k.partition(".")
        out.setdefault(prefix, {})[rest] = v
    return out


def save_model_dir(
    directory: str | Path,
    config: Jen1Config,
    components: dict[str, dict[str, torch.Tensor]],
    *,
    dtype: torch.dtype | None = None,
    card: str | None = None,
) -> Path:
    """Write a model directory.

    Args:
        directory: created if missing.
        config: saved as ``config.json`` and in the safetensors metadata.
        components: component name -> state dict (e.g. ``{"autoencoder": ..., "unet": ...}``).
        dtype: cast floating-point tensors to this dtype (bf16/fp16 for a small export).
        card: markdown text for ``model_card.md``.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    flat = {}
    for k, v in flatten_state(components).items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        flat[k] = v.contiguous()
    meta = {"config": config.to_json(), "jen1_version": __version__, "format": "jen1-model-v1"}
    atomic_write(directory / WEIGHTS, lambda p: save_file(flat, str(p), metadata=meta))
    atomic_write_text(directory / CONFIG, config.to_json() + "\n")
    if card is not None:
        atomic_write_text(directory / CARD, card)
    return directory


def load_config_from_dir(directory: str | Path) -> Jen1Config:
    """Read ``config.json`` from a model directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"model directory not found: {directory}")
    path = directory / CONFIG
    if not path.exists():
        raise CheckpointError(f"{directory} is not a jen1 model directory (no {CONFIG})")
    try:
        return Jen1Config.load_json(path)
    except ConfigError as e:
        raise CheckpointError(f"bad config in {path}: {e}") from None


def load_model_dir(
    directory: str | Path, components: tuple[str, ...] | None = None
) -> tuple[Jen1Config, dict[str, dict[str, torch.Tensor]]]:
    """Read a model directory -> (config, {component: state dict in float32}).

    Args:
        components: if given, these components must be present (others are ignored).

    Raises:
        CheckpointError: missing directory/files, a truncated or corrupt weights file, or a
            missing component.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    config = load_config_from_dir(directory)
    path = directory / WEIGHTS
    if not path.exists():
        raise CheckpointError(f"{directory} has no {WEIGHTS}")
    try:
        flat = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"weights file {path} is truncated or corrupt ({msg})") from None
    state = split_state(flat)
    state = {
        name: {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
        for name, sd in state.items()
    }
    if components is not None:
        missing = [c for c in components if c not in state]
        if missing:
            raise CheckpointError(
                f"{path} has no {', '.join(missing)} weights (it holds: {', '.join(sorted(state))})"
            )
        state = {c: state[c] for c in components}
    return config, state


def load_state_strict(
    module: torch.nn.Module, state: dict[str, torch.Tensor], what: str, *, assign: bool = False
) -> None:
    """``module.load_state_dict(state, strict=True, assign=assign)`` with a readable, one-line
    error (``assign``: the tensors of ``state`` become the module's, as for a meta module)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_short(unexpected)}")
        raise CheckpointError(f"{what} weights do not match the model: " + "; ".join(parts))
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise CheckpointError(
            f"{what} weights do not match the model: {k} has shape {tuple(state[k].shape)}, "
            f"expected {tuple(own[k].shape)} ({len(bad)} mismatched)"
        )
    module.load_state_dict(state, strict=True, assign=assign)


def _short(keys: list[str], n: int = 5) -> str:
    shown = ", ".join(keys[:n])
    return f"[{shown}{', ...' if len(keys) > n else ''}] ({len(keys)})"


def read_metadata(directory: str | Path) -> dict[str, str]:
    """The safetensors header metadata (config JSON, jen1 version)."""
    from safetensors import safe_open

    path = Path(directory) / WEIGHTS
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:
        raise CheckpointError(f"weights file {path} is truncated or corrupt ({e})") from None


def config_from_metadata(meta: dict[str, str]) -> Jen1Config:
    return Jen1Config.from_dict(json.loads(meta["config"]))

"""Builders and strict loaders: the one place a network is made from its config or a model dir.

Every user of a network (the pipeline, the training stages, the latent cache, evaluation, tests
and benchmarks) builds it here, so a new architecture selected by a config field is a change to
one builder. Loading is strict (:func:`jen1.checkpoint.load_state_strict`): a missing,
unexpected or mis-shaped tensor is a one-line :class:`jen1.errors.CheckpointError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from jen1.config import AutoencoderConfig, Jen1Config

if TYPE_CHECKING:
    from jen1.autoencoder.model import AudioAutoencoder
    from jen1.diffusion.unet import UNet1D

COMPONENTS = ("autoencoder", "unet")


def build_autoencoder(cfg: AutoencoderConfig) -> AudioAutoencoder:
    """A randomly initialised autoencoder for ``cfg`` (waveform (B, 2, L) <-> latent (B, C, T))."""
    from jen1.autoencoder.model import AudioAutoencoder

    return AudioAutoencoder(cfg)


def build_unet(cfg: Jen1Config) -> UNet1D:
    """A randomly initialised U-Net for ``cfg`` (latent width and text width from ``cfg``)."""
    from jen1.diffusion.unet import UNet1D

    return UNet1D(cfg.unet, cfg.autoencoder.latent_dim, cfg.text.dim)


def build_component(name: str, cfg: Jen1Config) -> nn.Module:
    """``"autoencoder"`` or ``"unet"`` of ``cfg``, randomly initialised."""
    if name == "autoencoder":
        return build_autoencoder(cfg.autoencoder)
    if name == "unet":
        return build_unet(cfg)
    raise ValueError(f"unknown component '{name}': use one of {', '.join(COMPONENTS)}")


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> nn.Module:
    """Strictly load ``state`` into ``module`` (one-line error naming the bad keys) -> module."""
    from jen1.checkpoint import load_state_strict

    load_state_strict(module, state, what)
    return module


_INIT_FUNCTIONS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
)  # fmt: skip


@contextlib.contextmanager
def _no_init() -> Iterator[set[int]]:
    """Build modules with ``torch.nn.init``'s in-place initialisers turned into no-ops.

    Their weights are about to be replaced by loaded ones. The meta device would skip the
    allocation too, but its first use imports torch._dynamo (about a second of a cold start).
    Yields the data pointers of the tensors whose initialisation was skipped, so a caller can
    tell whether a tensor it will not load (a non-persistent buffer) was left uninitialised.
    """
    skipped: set[int] = set()

    def keep(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        skipped.add(tensor.data_ptr())
        return tensor

    saved = {n: getattr(torch.nn.init, n) for n in _INIT_FUNCTIONS}
    try:
        for n in _INIT_FUNCTIONS:
            setattr(torch.nn.init, n, keep)
        yield skipped
    finally:
        for n, fn in saved.items():
            setattr(torch.nn.init, n, fn)


def load_components(
    model_dir: str | Path, components: tuple[str, ...] = COMPONENTS
) -> tuple[Jen1Config, dict[str, nn.Module]]:
    """Build and strictly load ``components`` of a model directory -> (config, {name: module}).

    The modules are float32 on the CPU in train mode; callers choose device, mode and precision.
    """
    from jen1.checkpoint import load_model_dir

    cfg, state = load_model_dir(model_dir, components)
    return cfg, {c: build_loaded(c, cfg, state[c]) for c in components}


def build_loaded(name: str, cfg: Jen1Config, state: dict[str, torch.Tensor]) -> nn.Module:
    """``build_component`` then a strict load of ``state``, without the random initialisation:
    the module is built with ``torch.nn.init`` switched off and the loaded tensors are copied
    into it (a module with a buffer its state dict does not hold, made by one of the
    initialisers switched off, is built and initialised as usual)."""
    with _no_init() as skipped:
        module = build_component(name, cfg)
    saved = set(module.state_dict())
    unloaded = [b for n, b in module.named_buffers() if n not in saved]
    if any(b.data_ptr() in skipped for b in unloaded):
        return load_weights(build_component(name, cfg), state, name)
    from jen1.checkpoint import load_state_strict

    # copied, not assigned: the copy keeps the layouts the module chose for its weights (a conv
    # weight kept frames-last, jen1.diffusion.ops.frames_last_), and the loaded tensors are
    # freed as they would be after a normal load (assigning them left the resident memory of a
    # v1.0-sized model 30-80 MB higher after a generation)
    load_state_strict(module, state, name)
    return module


def load_autoencoder(
    model_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[Jen1Config, AudioAutoencoder]:
    """A model directory's autoencoder, frozen, in eval mode on ``device`` -> (config, model)."""
    cfg, mods = load_components(model_dir, ("autoencoder",))
    return cfg, mods["autoencoder"].to(device).eval().requires_grad_(False)


def resolve_model_dir(path: str | Path | None) -> Path:
    """``path``, or the default model shipped with the package when None (checked installed)."""
    from jen1.errors import Jen1Error
    from jen1.paths import default_model_dir

    if path is not None:
        return Path(path)
    path = Path(default_model_dir())
    if not (path / "model.safetensors").exists():
        raise Jen1Error(
            f"the default model is not installed at {path}: reinstall jen1 from a full "
            "checkout, or pass --model DIR (a directory made by 'jen1 export')"
        )
    return path

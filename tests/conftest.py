"""Shared fixtures: tiny configs and small audio, all in tmp_path (never the repo tree)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Tiny test models run fastest single-threaded, and a second thread only spins when the machine
# is busy; subprocesses (CLI tests) inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def tiny_config():
    from jen1.config import load_config

    return load_config("tiny")


@pytest.fixture
def sine_stereo():
    """One second of a 440/660 Hz stereo sine at 48 kHz, (2, L) float32."""
    t = np.arange(48000) / 48000
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 660 * t)]).astype(
        np.float32
    )


@pytest.fixture(scope="session")
def text_encoder():
    from jen1.conditioning.text import TextEncoder

    return TextEncoder("minilm", max_length=16)


def _save_tiny_model(d, cfg):
    import torch

    from jen1.checkpoint import save_model_dir
    from jen1.models import build_autoencoder, build_unet

    torch.manual_seed(0)
    ae = build_autoencoder(cfg.autoencoder)
    unet = build_unet(cfg)
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_model_dir(
        d,
        cfg,
        {"autoencoder": ae.state_dict(), "unet": unet.state_dict()},
        card="# tiny test model (random weights)\n",
    )
    return d


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny, randomly initialised model directory (autoencoder + U-Net) for pipeline tests.

    Every U-Net weight is moved off its initial value (the output conv and the residual
    branches start at exactly zero), so the prediction depends on the noisy latent, the text,
    the known frames and the guidance: a test can see whether a prompt, a negative prompt or a
    guidance scale reached the model. Random weights make noise, not music: these tests check
    shapes, splicing, determinism, conditioning and errors, never quality.
    """
    from jen1.config import load_config

    return _save_tiny_model(tmp_path_factory.mktemp("tiny-model"), load_config("tiny"))


@pytest.fixture(scope="session")
def tiny_controls_model_dir(tmp_path_factory):
    """As ``tiny_model_dir``, with musical-control conditioning (``unet.controls``)."""
    from jen1.config import load_config, parse_override

    cfg = parse_override(load_config("tiny"), "unet.controls={}")
    return _save_tiny_model(tmp_path_factory.mktemp("tiny-controls-model"), cfg)

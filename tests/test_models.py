"""The builders and strict loaders of jen1.models."""

from __future__ import annotations

import pytest
import torch

from jen1.checkpoint import save_model_dir
from jen1.errors import CheckpointError
from jen1.models import build_autoencoder, build_unet, load_autoencoder, load_components


def test_load_components_gives_the_saved_weights(tiny_model_dir):
    from jen1.checkpoint import load_model_dir

    cfg, mods = load_components(tiny_model_dir)
    _, state = load_model_dir(tiny_model_dir)
    assert set(mods) == {"autoencoder", "unet"}
    for name, module in mods.items():
        own = module.state_dict()
        assert set(own) == set(state[name])
        assert all(torch.equal(own[k], state[name][k]) for k in own)
    _, ae = load_autoencoder(tiny_model_dir)
    assert not ae.training and not any(p.requires_grad for p in ae.parameters())


def test_a_renamed_tensor_is_a_one_line_error_naming_it(tmp_path, tiny_config):
    unet = build_unet(tiny_config).state_dict()
    key = next(iter(unet))
    unet["renamed." + key] = unet.pop(key)
    ae = build_autoencoder(tiny_config.autoencoder).state_dict()
    save_model_dir(tmp_path / "m", tiny_config, {"autoencoder": ae, "unet": unet})
    with pytest.raises(CheckpointError, match=r"unet weights do not match") as e:
        load_components(tmp_path / "m")
    assert key in str(e.value) and "\n" not in str(e.value)
    load_components(tmp_path / "m", ("autoencoder",))  # the other component still loads


@pytest.mark.parametrize("arch", ["conv", "stft", "hybrid"])
def test_loaded_modules_are_built_without_random_init_and_run_like_built_ones(tmp_path, arch):
    """load_components builds with initialisation off and assigns the saved tensors: every
    tensor is a CPU tensor, and the result computes exactly what a normally built module does."""
    import dataclasses

    from jen1.config import load_config
    from jen1.models import load_weights

    cfg = load_config("tiny")
    if arch == "stft":
        cfg = dataclasses.replace(cfg, autoencoder=dataclasses.replace(
            cfg.autoencoder, arch="stft", strides=(2,), stft_hop=64, n_fft=256, stft_dim=32,
            stft_mlp_ratio=2.0, stft_blocks=(1, 1), stft_phase="vector",
        ))  # fmt: skip
    if arch == "hybrid":  # non-persistent buffers: the MDCT basis, the controls' frequencies
        from tests.autoencoder.test_model import tiny_ae_config

        from jen1.config import ControlConfig

        cfg = dataclasses.replace(
            cfg,
            autoencoder=tiny_ae_config("stft-hybrid"),
            unet=dataclasses.replace(cfg.unet, controls=ControlConfig()),
        )
    torch.manual_seed(0)
    ae, unet = build_autoencoder(cfg.autoencoder), build_unet(cfg)
    save_model_dir(tmp_path, cfg, {"autoencoder": ae.state_dict(), "unet": unet.state_dict()})
    import jen1.models as models

    built = []
    build = models.build_component
    models.build_component = lambda name, cfg: built.append(name) or build(name, cfg)
    try:
        _, mods = load_components(tmp_path)
    finally:
        models.build_component = build
    assert sorted(built) == ["autoencoder", "unet"]  # each built once, not again with init
    for m in mods.values():
        assert all(t.device.type == "cpu" for t in [*m.parameters(), *m.buffers()])
        assert all(p.requires_grad for p in m.parameters())
    ref = load_weights(build_autoencoder(cfg.autoencoder), ae.state_dict(), "autoencoder").eval()
    wav = 0.1 * torch.randn(1, 2, 4 * ae.hop)
    with torch.no_grad():
        assert torch.equal(mods["autoencoder"].eval()(wav).recon, ref(wav).recon)

    for name, built in (("autoencoder", ae), ("unet", unet)):  # each weight's memory layout
        laid = {n: p.stride() for n, p in mods[name].named_parameters()}
        assert {n: p.stride() for n, p in built.named_parameters()} == laid
    for name, built in (("autoencoder", ae), ("unet", unet)):  # every buffer, saved or not
        loaded = dict(mods[name].named_buffers())
        for k, b in built.named_buffers():
            assert torch.equal(loaded[k], b), k


def test_a_buffer_made_by_a_skipped_initialiser_is_built_as_usual(monkeypatch, tiny_config):
    """A buffer the state dict does not hold, filled by one of the initialisers the fast build
    switches off, would be left as uninitialised memory: such a module is built normally."""
    from torch import nn

    import jen1.models as models

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.register_buffer("scale", nn.init.ones_(torch.empty(3)), persistent=False)

    monkeypatch.setattr(models, "build_component", lambda name, cfg: Odd())
    state = {k: torch.randn_like(v) for k, v in Odd().state_dict().items()}
    module = models.build_loaded("odd", tiny_config, state)
    assert torch.equal(module.scale, torch.ones(3))
    assert torch.equal(module.lin.weight, state["lin.weight"])

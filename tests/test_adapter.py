"""jen1.adapter: the adapter file (factors + config + base identity) and the base-model check."""

import dataclasses
import json

import pytest
import torch
from safetensors import safe_open

from jen1.adapter import (
    ADAPTER_FILE,
    AdapterMismatch,
    AdapterWarning,
    base_identity,
    load_adapter,
    save_adapter,
)
from jen1.config import load_config
from jen1.diffusion.lora import LoRASpec, add_adapters
from jen1.errors import CheckpointError
from jen1.models import build_unet


@pytest.fixture
def adapted():
    torch.manual_seed(0)
    cfg = load_config("tiny")
    unet = build_unet(cfg)
    base_state = {k: v.clone() for k, v in unet.state_dict().items()}
    spec = LoRASpec(3, alpha=6.0, targets=("qkv", "ff.net.1", "skip"))
    adapters = add_adapters(unet, spec)
    with torch.no_grad():
        for d in adapters.layers.values():
            d.lora_B.normal_()
    return cfg, base_state, spec, adapters.state()


def test_the_file_round_trips_with_its_config(tmp_path, adapted):
    cfg, base_state, spec, state = adapted
    base = base_identity(cfg, base_state)
    path = save_adapter(tmp_path / "a", spec, state, base, step=7)
    assert path == tmp_path / "a" / ADAPTER_FILE
    loaded = load_adapter(tmp_path / "a")
    assert loaded.spec == spec and loaded.step == 7 and loaded.base == base
    assert set(loaded.state) == set(state)
    assert all(torch.equal(loaded.state[k], v) for k, v in state.items())
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["adapter"])
    assert meta["rank"] == 3 and meta["alpha"] == 6.0
    assert meta["targets"] == ["qkv", "ff.net.1", "skip"]
    assert meta["base"]["arch"]["unet"]["channels"] == list(cfg.unet.channels)
    model_bytes = sum(v.numel() * 4 for v in base_state.values())
    assert path.stat().st_size < 0.5 * model_bytes  # the factors alone, not the model
    assert load_adapter(path).spec == spec  # the file itself works too
    with pytest.raises(CheckpointError, match="already holds an adapter"):
        save_adapter(tmp_path / "a", spec, state, base)


def test_bf16_export_halves_the_file_and_loads_as_float32(tmp_path, adapted):
    cfg, base_state, spec, state = adapted
    base = base_identity(cfg, base_state)
    f32 = save_adapter(tmp_path / "f", spec, state, base)
    b16 = save_adapter(tmp_path / "b", spec, state, base, dtype=torch.bfloat16)
    assert b16.stat().st_size < 0.6 * f32.stat().st_size
    k = next(iter(state))
    assert load_adapter(b16).state[k].dtype == torch.float32


def test_another_architecture_is_refused_naming_the_field(tmp_path, adapted):
    cfg, base_state, spec, state = adapted
    save_adapter(tmp_path / "a", spec, state, base_identity(cfg, base_state))
    adapter = load_adapter(tmp_path / "a")
    adapter.check_base(cfg, base_state)  # its own base: fine
    wider = dataclasses.replace(cfg, unet=dataclasses.replace(cfg.unet, channels=(16, 48)))
    with pytest.raises(AdapterMismatch, match=r"unet\.channels = \[.*\], this model \[16, 48\]"):
        adapter.check_base(wider)
    other_text = dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, dim=512))
    with pytest.raises(AdapterMismatch, match=r"text\.dim"):
        adapter.check_base(other_text)
    renamed = {k.replace("mid_attn", "mid_att"): v for k, v in base_state.items()}
    with pytest.raises(AdapterMismatch, match="parameter shapes differ"):
        adapter.check_base(cfg, renamed)
    assert "\n" not in str(pytest.raises(AdapterMismatch, adapter.check_base, wider).value)


def test_other_weights_of_the_same_architecture_warn(tmp_path, adapted):
    cfg, base_state, spec, state = adapted
    save_adapter(tmp_path / "a", spec, state, base_identity(cfg, base_state))
    adapter = load_adapter(tmp_path / "a")
    bf16_copy = {k: v.bfloat16().float() for k, v in base_state.items()}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapter.check_base(cfg, bf16_copy)  # a bf16 export of the same model: no warning
    tuned = {k: v + 0.01 for k, v in base_state.items()}
    with pytest.warns(AdapterWarning, match="trained on other weights"):
        adapter.check_base(cfg, tuned)


def test_missing_corrupt_and_foreign_files_are_clear_errors(tmp_path, adapted):
    with pytest.raises(CheckpointError, match="has no adapter.safetensors"):
        load_adapter(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_adapter(tmp_path / "nothing.safetensors")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / ADAPTER_FILE).write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_adapter(bad)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a jen1 LoRA adapter"):
        load_adapter(foreign)

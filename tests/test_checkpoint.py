import pytest
import torch

from jen1.checkpoint import load_model_dir, load_state_strict, read_metadata, save_model_dir
from jen1.errors import CheckpointError


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def test_save_load_identical_outputs(tmp_path, tiny_config):
    net = _net()
    save_model_dir(tmp_path / "m", tiny_config, {"unet": net.state_dict()}, card="# card\n")
    cfg, state = load_model_dir(tmp_path / "m", ("unet",))
    assert cfg == tiny_config
    other = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    load_state_strict(other, state["unet"], "unet")
    x = torch.randn(3, 4)
    assert torch.equal(net(x), other(x))
    meta = read_metadata(tmp_path / "m")
    assert "jen1_version" in meta and '"name": "tiny"' in meta["config"]
    assert (tmp_path / "m" / "model_card.md").read_text() == "# card\n"


def test_bf16_export_loads_as_float32(tmp_path, tiny_config):
    net = _net()
    save_model_dir(tmp_path / "m", tiny_config, {"unet": net.state_dict()}, dtype=torch.bfloat16)
    _, state = load_model_dir(tmp_path / "m")
    assert all(v.dtype == torch.float32 for v in state["unet"].values())
    assert torch.allclose(state["unet"]["0.weight"], net[0].weight, atol=1e-2)


def test_strict_load_lists_keys(tmp_path, tiny_config):
    net = _net()
    sd = net.state_dict()
    sd["0.weight_renamed"] = sd.pop("0.weight")
    with pytest.raises(
        CheckpointError, match=r"missing keys \[0.weight\].*unexpected keys \[0.weight_renamed\]"
    ):
        load_state_strict(_net(), sd, "unet")
    sd = _net().state_dict()
    sd["0.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointError, match="shape"):
        load_state_strict(_net(), sd, "unet")


def test_truncated_and_missing(tmp_path, tiny_config):
    save_model_dir(tmp_path / "m", tiny_config, {"unet": _net().state_dict()})
    w = tmp_path / "m" / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-20])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model_dir(tmp_path / "m")
    with pytest.raises(CheckpointError, match="not found"):
        load_model_dir(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_model_dir(tmp_path / "empty")


def test_missing_component(tmp_path, tiny_config):
    save_model_dir(tmp_path / "m", tiny_config, {"unet": _net().state_dict()})
    with pytest.raises(CheckpointError, match="no autoencoder weights"):
        load_model_dir(tmp_path / "m", ("autoencoder", "unet"))

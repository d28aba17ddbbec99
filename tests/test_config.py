import json

import pytest

from jen1.config import (
    PRESETS,
    ConfigError,
    DiffusionConfig,
    Jen1Config,
    apply_overrides,
    load_config,
    parse_override,
)


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_json_round_trip(name, tmp_path):
    cfg = load_config(name)
    assert cfg.name == name
    assert Jen1Config.from_dict(json.loads(cfg.to_json())) == cfg
    cfg.save_json(tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == cfg
    assert load_config(tmp_path) == cfg  # a model directory holding config.json


def test_paper_matches_design():
    cfg = load_config("paper")
    assert cfg.autoencoder.hop == 320 and cfg.autoencoder.latent_dim == 128
    assert cfg.diffusion.schedule == "linear" and cfg.diffusion.objective == "eps"
    assert (cfg.diffusion.beta_start, cfg.diffusion.beta_end) == (0.0015, 0.0195)
    assert cfg.sampling.steps == 200 and cfg.sampling.cfg_scale == 2.0
    assert cfg.train_diffusion.lr == 3e-5 and cfg.train_diffusion.betas == (0.9, 0.95)
    assert cfg.diffusion.cfg_dropout == 0.2


def test_unknown_key_named():
    d = load_config("tiny").to_dict()
    d["unet"]["chanels"] = [1, 2]
    with pytest.raises(ConfigError, match="unet.chanels"):
        Jen1Config.from_dict(d)


def test_wrong_type_named():
    d = load_config("tiny").to_dict()
    d["autoencoder"]["latent_dim"] = "eight"
    with pytest.raises(ConfigError, match="autoencoder.latent_dim"):
        Jen1Config.from_dict(d)
    d = load_config("tiny").to_dict()
    d["unet"]["causal"] = 1
    with pytest.raises(ConfigError, match="unet.causal"):
        Jen1Config.from_dict(d)
    d = load_config("tiny").to_dict()
    d["autoencoder"]["strides"] = [4, "x"]
    with pytest.raises(ConfigError, match=r"autoencoder.strides\[1\]"):
        Jen1Config.from_dict(d)


def test_overrides():
    cfg = parse_override(load_config("tiny"), "train_diffusion.lr=0.5")
    assert cfg.train_diffusion.lr == 0.5
    cfg = parse_override(cfg, "text.name=t5:/x")
    assert cfg.text.name == "t5:/x"
    with pytest.raises(ConfigError, match="nope"):
        parse_override(cfg, "unet.nope=1")
    with pytest.raises(ConfigError):
        parse_override(cfg, "unet.channels")


def test_unknown_preset_and_bad_json(tmp_path):
    with pytest.raises(ConfigError, match="unknown config"):
        load_config("huge")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")


def test_flow_objective_and_schedule_go_together():
    bad = ({"objective": "flow"}, {"schedule": "flow"}, {"schedule": "flow", "objective": "v"})
    for kwargs in bad:
        with pytest.raises(ConfigError, match="objective 'flow' and schedule 'flow' go together"):
            DiffusionConfig(**kwargs)
    with pytest.raises(ConfigError, match="train_t must be"):
        DiffusionConfig(train_t="beta")
    with pytest.raises(ConfigError, match="train_t_std must be positive"):
        DiffusionConfig(train_t_std=0.0)
    # one override at a time would pass through the refused state: all are applied, then checked
    cfg = load_config(
        "tiny",
        ["diffusion.objective=flow", "diffusion.schedule=flow", "diffusion.train_t=logit_normal"],
    )
    assert (cfg.diffusion.objective, cfg.diffusion.schedule) == ("flow", "flow")
    assert cfg.diffusion.train_t == "logit_normal"
    with pytest.raises(ConfigError, match="go together"):
        apply_overrides(load_config("tiny"), ["diffusion.objective=flow"])


def test_configs_without_the_flow_keys_load_as_before():
    """Checkpoints written before the time-distribution keys existed keep their meaning."""
    d = load_config("small").to_dict()
    for k in ("train_t", "train_t_mean", "train_t_std"):
        del d["diffusion"][k]
    cfg = Jen1Config.from_dict(d)
    assert cfg == load_config("small") and cfg.diffusion.train_t == "uniform"
    assert (cfg.diffusion.schedule, cfg.diffusion.objective) == ("cosine", "v")

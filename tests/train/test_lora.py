"""LoRA runs: adapters trained alone on a frozen U-Net, small checkpoints, exact resume, export."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from jen1.adapter import load_adapter
from jen1.checkpoint import load_model_dir
from jen1.cli import main
from jen1.config import TextConfig, load_config
from jen1.data.latents import build_latent_cache
from jen1.diffusion.lora import LoRASpec, state_from_dict
from jen1.errors import Jen1Error
from jen1.train.export import export_model
from jen1.train.loop import RunOptions, latest_checkpoint, load_training_checkpoint, train
from jen1.train.stages import RUN_LORA, DiffusionStage, LoRADiffusionStage

SR = 48000
SETTINGS = [
    "train_diffusion.batch_size=2",
    "train_diffusion.segment_seconds=0.5",
    "train_diffusion.ckpt_every=2",
    "train_diffusion.log_every=1",
    "train_diffusion.warmup_steps=1",
    "train_diffusion.lr=0.01",
    "train_diffusion.precision=32-true",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory, tiny_model_dir):
    """A user's latent cache: five noise clips encoded with the tiny model's autoencoder."""
    d = tmp_path_factory.mktemp("user-corpus")
    (d / "audio").mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i, split in enumerate(["train"] * 4 + ["val"]):
        sf.write(str(d / f"audio/{i}.wav"), rng.uniform(-0.3, 0.3, (SR // 2, 2)), SR)
        rec = {"path": f"audio/{i}.wav", "seconds": 0.5, "caption": f"clip {i}", "split": split}
        attrs = {"source": "test", "composition_id": f"c{i}"}
        lines.append(json.dumps({**rec, "attributes": attrs}))
    (d / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    text = TextConfig(max_length=16)
    build_latent_cache(d, tiny_model_dir, text_cfg=text, batch_size=2, progress=False)
    return d / "latents"


def _stage(cache, model, rank=2):
    cfg = load_config(str(model), SETTINGS)
    return LoRADiffusionStage(cfg, cache, model, lora=LoRASpec(rank))


def _train(stage, run, steps, resume=False):
    opts = RunOptions(run_dir=run, max_steps=steps, resume=resume, accelerator="cpu")
    opts.progress = False
    return train(stage, opts)


def test_a_lora_run_trains_the_adapters_alone_and_exports_them(tmp_path, cache, tiny_model_dir):
    stage = _stage(cache, tiny_model_dir)
    run = tmp_path / "run"
    _train(stage, run, 3)
    _, base = load_model_dir(tiny_model_dir, ("unet",))
    unet = stage.modules["unet"]
    unet = getattr(unet, "_original_module", unet)
    plain = {
        k.replace(".parametrizations.weight.original", ".weight"): v
        for k, v in unet.state_dict().items()
        if "lora_" not in k
    }
    assert set(plain) == set(base["unet"])
    assert all(torch.equal(plain[k], v) for k, v in base["unet"].items())  # base untouched
    ckpt = load_training_checkpoint(latest_checkpoint(run))
    assert ckpt["stage"] == "diffusion-lora" and set(ckpt["modules"]) == {"lora"}
    assert all(k.endswith(("lora_A", "lora_B")) for k in ckpt["modules"]["lora"])
    trained = state_from_dict(ckpt["modules"]["lora"])
    assert max(v.abs().max() for k, v in trained.items() if k.endswith("lora_B")) > 0
    info = json.loads((run / RUN_LORA).read_text())
    assert info["rank"] == 2 and info["init"] == str(tiny_model_dir)

    summary = export_model(run, tmp_path / "adapter")
    assert summary["step"] == 3 and summary["rank"] == 2
    adapter = load_adapter(tmp_path / "adapter")
    shadow = state_from_dict(ckpt["ema"]["lora"]["shadow"])
    assert set(adapter.state) == set(shadow)
    assert all(torch.equal(adapter.state[k], v) for k, v in shadow.items())  # the EMA
    model_bytes = (tiny_model_dir / "model.safetensors").stat().st_size
    assert summary["bytes"] < model_bytes / 4
    assert adapter.base["shapes"] == info["base"]["shapes"]
    with pytest.raises(Jen1Error, match="already holds an adapter"):
        export_model(run, tmp_path / "adapter")
    with pytest.raises(Jen1Error, match="LoRA run: --unet-from and --card do not apply"):
        export_model(run, tmp_path / "x", card="# no\n")


def test_a_resumed_lora_run_repeats_the_uninterrupted_one(tmp_path, cache, tiny_model_dir):
    _train(_stage(cache, tiny_model_dir), tmp_path / "a", 4)
    _train(_stage(cache, tiny_model_dir), tmp_path / "b", 2)
    _train(_stage(cache, tiny_model_dir), tmp_path / "b", 4, resume=True)
    a, b = (load_training_checkpoint(latest_checkpoint(tmp_path / r)) for r in "ab")
    assert a["step"] == b["step"] == 4
    for part in ("modules", "ema"):
        sa, sb = a[part]["lora"], b[part]["lora"]
        sa, sb = (s["shadow"] if part == "ema" else s for s in (sa, sb))
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    with pytest.raises(Jen1Error, match="resume it with the same --init and --lora"):
        _train(_stage(cache, tiny_model_dir, rank=3), tmp_path / "b", 5, resume=True)


def test_lora_needs_a_base_model(cache, tiny_model_dir):
    cfg = load_config(str(tiny_model_dir), SETTINGS)
    with pytest.raises(Jen1Error, match="--lora needs --init MODEL_DIR"):
        LoRADiffusionStage(cfg, cache, None, lora=LoRASpec(2))
    full = DiffusionStage(cfg, cache, tiny_model_dir)
    assert full.name == "diffusion"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lora", "0"], "LoRA rank must be a whole number of at least 1, got 0"),
        (["--lora", "-4"], "LoRA rank must be a whole number of at least 1, got -4"),
        (["--lora", "4", "--lora-alpha", "0"], "LoRA alpha must be a positive number"),
        (["--lora", "4", "--lora-targets", "nope"], "'nope' matches no linear or conv layer"),
        (["--lora-alpha", "2"], "--lora-alpha and --lora-targets need --lora RANK"),
    ],
)
def test_bad_lora_flags_are_one_line_errors(
    flags, message, tmp_path, cache, tiny_model_dir, capsys
):
    argv = ["train", "diffusion", "--data", str(cache), "--out", str(tmp_path / "run")]
    argv += ["--init", str(tiny_model_dir), "--max-steps", "1", "--no-progress", *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not list((tmp_path / "run").glob("ckpt-*"))  # nothing trained


def test_the_cli_lora_run_resumes_from_its_own_settings(tmp_path, cache, tiny_model_dir, capsys):
    run = tmp_path / "run"
    base = ["train", "diffusion", "--data", str(cache), "--out", str(run), "--no-progress"]
    sets = [a for s in SETTINGS for a in ("--set", s)]
    assert (
        main([*base, "--init", str(tiny_model_dir), "--lora", "2", "--max-steps", "2", *sets]) == 0
    )
    assert main([*base, "--resume", "--max-steps", "3", *sets]) == 0  # rank and init from the run
    assert "done at step 3" in capsys.readouterr().out
    assert load_training_checkpoint(latest_checkpoint(run))["stage"] == "diffusion-lora"

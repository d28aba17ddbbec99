"""Adapters at generation time: Pipeline(adapter=), a request's adapter_scale, CLI and web."""

import dataclasses
import threading
import time

import pytest
import soundfile as sf
import torch

from jen1.adapter import AdapterMismatch, base_identity, save_adapter
from jen1.cli import main
from jen1.config import load_config
from jen1.diffusion.lora import LoRASpec, add_adapters
from jen1.models import load_components
from jen1.pipeline import Pipeline
from jen1.request import RequestError

ARGS = dict(seconds=0.5, steps=3, seed=4)


def _adapter(directory, model_dir, cfg_for_base=None):
    """An adapter for ``model_dir``'s U-Net with random (non-zero) factors."""
    cfg, mods = load_components(model_dir, ("unet",))
    unet = mods["unet"]
    state = {k: v.clone() for k, v in unet.state_dict().items()}
    torch.manual_seed(3)
    spec = LoRASpec(4)
    adapters = add_adapters(unet, spec)
    with torch.no_grad():
        for d in adapters.layers.values():
            d.lora_B.normal_(0, 0.5)
    save_adapter(directory, spec, adapters.state(), base_identity(cfg_for_base or cfg, state))
    return directory


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory, tiny_model_dir):
    return _adapter(tmp_path_factory.mktemp("adapter"), tiny_model_dir)


@pytest.fixture(scope="module")
def base_audio(tiny_model_dir):
    return Pipeline.from_pretrained(tiny_model_dir).generate("a jazz trio", **ARGS)


def test_an_adapter_changes_the_output_and_scale_zero_does_not(
    tiny_model_dir, adapter_dir, base_audio
):
    adapted = Pipeline.from_pretrained(tiny_model_dir, adapter=adapter_dir)
    out = adapted.generate("a jazz trio", **ARGS)
    assert out.shape == base_audio.shape
    assert (out - base_audio).abs().max() > 1e-3
    zero = Pipeline.from_pretrained(tiny_model_dir, adapter=adapter_dir, adapter_scale=0.0)
    assert torch.equal(zero.generate("a jazz trio", **ARGS), base_audio)


def test_a_requests_scale_remerges_exactly(tiny_model_dir, adapter_dir, base_audio):
    pipe = Pipeline.from_pretrained(tiny_model_dir, adapter=adapter_dir)
    first = pipe.generate("a jazz trio", **ARGS)
    assert torch.equal(pipe.generate("a jazz trio", adapter_scale=0.0, **ARGS), base_audio)
    half = pipe.generate("a jazz trio", adapter_scale=0.5, **ARGS)
    assert not torch.equal(half, first) and not torch.equal(half, base_audio)
    assert torch.equal(pipe.generate("a jazz trio", adapter_scale=1.0, **ARGS), first)
    assert pipe.adapter.scale == 1.0


def test_the_constructor_takes_an_adapter_directory(tiny_model_dir, adapter_dir):
    from jen1.conditioning.text import load_text_encoder

    def pipeline(**kw):
        cfg, mods = load_components(tiny_model_dir)
        enc = load_text_encoder(cfg.text)
        return Pipeline(cfg, mods["autoencoder"], mods["unet"], enc, bf16=False, **kw)

    plain = pipeline().generate("a jazz trio", **ARGS)
    pipe = pipeline(adapter=adapter_dir, adapter_scale=0.0)
    assert torch.equal(pipe.generate("a jazz trio", **ARGS), plain)
    out1 = pipe.generate("a jazz trio", adapter_scale=1.0, **ARGS)
    assert (out1 - plain).abs().max() > 1e-3


def test_a_prepared_packed_unet_is_packed_again_after_the_merge(tiny_model_dir, adapter_dir):
    from jen1.conditioning.text import load_text_encoder
    from jen1.diffusion import packing
    from jen1.inference.prepare import prepare_unet

    if not packing.packing_supported(torch.bfloat16):
        pytest.skip("oneDNN bf16 packing is not available on this CPU")

    def pipeline(**kw):
        cfg, mods = load_components(tiny_model_dir)
        unet = prepare_unet(mods["unet"], cfg, device="cpu", bf16=True, pack=True)
        return Pipeline(cfg, mods["autoencoder"], unet, load_text_encoder(cfg.text), **kw)

    plain = pipeline().generate("a jazz trio", **ARGS)
    pipe = pipeline(adapter=adapter_dir, adapter_scale=0.0)
    linear = next(n for n, w in pipe.adapter.base.items() if w.dim() == 2)  # e.g. a qkv
    module = pipe.unet.get_submodule(linear)
    x = torch.zeros(1, 4, module.weight.shape[1], dtype=torch.bfloat16)
    assert packing.packed(module, x) is not None  # a valid pack of the merged weight
    assert torch.equal(pipe.generate("a jazz trio", **ARGS), plain)


def test_adapter_scale_without_an_adapter_and_out_of_range_are_refused(tiny_model_dir):
    pipe = Pipeline.from_pretrained(tiny_model_dir)
    with pytest.raises(
        RequestError, match="adapter_scale applies to a model loaded with an adapter"
    ):
        pipe.generate("a jazz trio", adapter_scale=0.5, **ARGS)
    for bad in (-0.1, 2.5, float("nan"), "1"):
        with pytest.raises(RequestError, match="adapter_scale must be"):
            pipe.generate("a jazz trio", adapter_scale=bad, **ARGS)


def test_an_adapter_for_another_model_is_refused(tmp_path, tiny_model_dir, capsys):
    cfg = load_config(str(tiny_model_dir))
    other = dataclasses.replace(cfg, unet=dataclasses.replace(cfg.unet, channels=(24, 48)))
    bad = _adapter(tmp_path / "other", tiny_model_dir, cfg_for_base=other)
    with pytest.raises(AdapterMismatch, match=r"unet\.channels = \[24, 48\]"):
        Pipeline.from_pretrained(tiny_model_dir, adapter=bad)
    out = tmp_path / "out.wav"
    argv = ["generate", "x", "--seconds", "0.5", "--steps", "2", "--model", str(tiny_model_dir)]
    assert main([*argv, "--adapter", str(bad), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "is for another model" in err and "unet.channels" in err and err.count("\n") == 1
    assert not out.exists()  # refused before anything ran


def test_the_cli_applies_an_adapter_with_its_scale(tmp_path, tiny_model_dir, adapter_dir, capsys):
    argv = ["generate", "a jazz trio", "--seconds", "0.5", "--steps", "3", "--seed", "4"]
    argv += ["--model", str(tiny_model_dir), "--no-progress"]
    paths = {name: tmp_path / f"{name}.wav" for name in ("plain", "zero", "one")}
    assert main([*argv, "-o", str(paths["plain"])]) == 0
    assert (
        main(
            [*argv, "--adapter", str(adapter_dir), "--adapter-scale", "0", "-o", str(paths["zero"])]
        )
        == 0
    )
    assert main([*argv, "--adapter", str(adapter_dir), "-o", str(paths["one"])]) == 0
    plain, zero, one = (sf.read(str(p))[0] for p in paths.values())
    assert (plain == zero).all() and not (plain == one).all()
    assert main([*argv, "--adapter-scale", "1", "-o", str(tmp_path / "x.wav")]) == 2
    assert "--adapter-scale needs --adapter DIR" in capsys.readouterr().err


def test_a_new_scale_waits_for_running_requests(tiny_model_dir, adapter_dir):
    pipe = Pipeline.from_pretrained(tiny_model_dir, adapter=adapter_dir, pack=False)
    gate = pipe.adapter
    done = threading.Event()

    def other_request():
        with gate.use(0.5):
            done.set()

    with gate.use(None):  # a run at the current scale is sampling
        t = threading.Thread(target=other_request)
        t.start()
        time.sleep(0.2)
        assert not done.is_set() and gate.scale == 1.0  # the weights did not change under it
    t.join(timeout=10)
    assert done.is_set() and gate.scale == 0.5
    with gate.use(0.5), gate.use(0.5):  # runs at the same scale go side by side
        assert gate.scale == 0.5


def test_the_web_reads_adapter_scale(monkeypatch):
    from jen1.errors import Jen1Error
    from jen1.web.jobs import parse_sampling

    assert parse_sampling(adapter_scale="0.25").adapter_scale == 0.25
    assert parse_sampling(adapter_scale="").adapter_scale is None
    with pytest.raises(Jen1Error, match="adapter_scale must be between 0 and 2"):
        parse_sampling(adapter_scale=3)

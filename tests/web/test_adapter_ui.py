"""The web UI's Adapter scale slider: on every tab when the model has an adapter, else absent."""

import pytest

from jen1.adapter import base_identity, save_adapter
from jen1.diffusion.lora import LoRASpec, add_adapters
from jen1.models import load_components
from jen1.pipeline import Pipeline


def _ids(app) -> set[str]:
    return {b.elem_id for b in app.blocks.values() if getattr(b, "elem_id", None)}


def test_the_slider_is_there_with_an_adapter_only(tmp_path, tiny_model_dir):
    pytest.importorskip("gradio", reason="the web UI needs gradio")
    from jen1.web.app import build_app
    from jen1.web.settings import ServerSettings

    cfg, mods = load_components(tiny_model_dir, ("unet",))
    base = base_identity(cfg, mods["unet"].state_dict())
    adapters = add_adapters(mods["unet"], LoRASpec(2))
    save_adapter(tmp_path / "my-style", LoRASpec(2), adapters.state(), base)
    pipe = Pipeline.from_pretrained(
        tiny_model_dir, adapter=tmp_path / "my-style", adapter_scale=0.7
    )
    app = build_app(pipe, ServerSettings())
    tabs = ("generate", "inpaint", "continue", "remix")
    assert {f"{t}-adapter-scale" for t in tabs} <= _ids(app)
    slider = next(b for b in app.blocks.values() if b.elem_id == "remix-adapter-scale")
    assert slider.value == pytest.approx(0.7) and slider.maximum == 2.0
    assert "my-style" in slider.label
    plain = build_app(Pipeline.from_pretrained(tiny_model_dir), ServerSettings())
    assert not any("adapter" in i for i in _ids(plain))

"""Precision choice: bf16 only where the hardware computes it natively, unless asked."""

import pytest
import torch

from jen1.errors import Jen1Error
from jen1.precision import native_bf16, resolve_bf16


def test_resolve_bf16_choices(monkeypatch):
    assert resolve_bf16("bf16") is True
    assert resolve_bf16("fp32") is False
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert native_bf16("cpu") is False and resolve_bf16("auto") is False
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert resolve_bf16("auto") is torch.backends.mkldnn.is_available()
    with pytest.raises(Jen1Error, match="unknown precision 'half'"):
        resolve_bf16("half")


def test_pipeline_follows_the_precision(tiny_model_dir, monkeypatch):
    from jen1.pipeline import Pipeline

    fp32 = Pipeline.from_pretrained(tiny_model_dir, bf16=False)
    assert not fp32.bf16 and all(p.dtype == torch.float32 for p in fp32.unet.parameters())
    monkeypatch.setattr("jen1.precision.native_bf16", lambda device="cpu": False)
    assert not Pipeline.from_pretrained(tiny_model_dir).bf16  # auto on a CPU without bf16
    monkeypatch.setattr("jen1.precision.native_bf16", lambda device="cpu": True)
    auto = Pipeline.from_pretrained(tiny_model_dir)
    assert auto.bf16 and any(p.dtype == torch.bfloat16 for p in auto.unet.parameters())
    a = fp32.generate("piano", 0.5, steps=2, seed=0)
    b = auto.generate("piano", 0.5, steps=2, seed=0)
    assert a.shape == b.shape and torch.isfinite(a).all() and torch.isfinite(b).all()
    assert not torch.equal(a, b)  # bf16 really ran: other rounding...
    assert ((a - b).norm() / a.norm()).item() < 0.2  # ...of the same audio

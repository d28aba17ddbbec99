"""The cold-start path of ``jen1 generate``: what a fresh process imports and builds.

Each check runs in a fresh interpreter, since the test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import torch

from jen1.inference.codec import LatentCodec
from jen1.models import build_autoencoder

# Packages the generate path must not need: the optional extras (jen1.optional) and the heavy
# parts of torch a model load could drag in (torch._dynamo costs about a second to import).
BLOCKED = ("tinysoundfont", "musicnn", "gradio", "transformers", "librosa", "scipy", "matplotlib")
NOT_IMPORTED = ("torch._dynamo", "torch._inductor", "jen1.train", "jen1.eval.fad", "lightning")


def _fresh(code: str) -> dict:
    script = textwrap.dedent(
        f"""
        import json, sys
        for name in {BLOCKED!r}:
            sys.modules[name] = None  # import fails as if the package were not installed
        {textwrap.indent(textwrap.dedent(code), " " * 8).strip()}
        print("RESULT " + json.dumps({{
            "imported": [m for m in {NOT_IMPORTED!r} if m in sys.modules],
        }}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    return {"stdout": out.stdout, **json.loads(line[-1][7:])}


def test_generate_runs_without_optional_packages_and_imports_no_compiler(tiny_model_dir, tmp_path):
    out = tmp_path / "a.wav"
    res = _fresh(
        f"""
        from jen1.cli import main
        rc = main(["generate", "calm piano", "--model", {str(tiny_model_dir)!r}, "--seconds", "1",
                   "--steps", "2", "--seed", "0", "-o", {str(out)!r}, "--no-progress"])
        assert rc == 0, rc
        """
    )
    assert out.exists() and "wrote" in res["stdout"]
    assert res["imported"] == []


def test_a_model_load_leaves_torch_init_working(tiny_model_dir):
    """Loading switches torch.nn.init off while it builds, and back on afterwards."""
    from jen1.models import load_components

    load_components(tiny_model_dir)
    w = torch.zeros(64, 64)
    torch.nn.init.normal_(w)
    assert w.std() > 0.5


def test_the_conv_codec_decodes_in_float32_on_a_cpu_and_the_stft_codec_in_bf16(tiny_config):
    import dataclasses

    conv = build_autoencoder(tiny_config.autoencoder)
    stft_cfg = dataclasses.replace(
        tiny_config.autoencoder, arch="stft", strides=(2,), stft_hop=64, n_fft=256, stft_dim=32,
        stft_mlp_ratio=2.0, stft_blocks=(1, 1), stft_phase="vector",
    )  # fmt: skip
    stft = build_autoencoder(stft_cfg)
    cpu = torch.device("cpu")
    assert not LatentCodec(conv, cpu, bf16=True).bf16
    assert LatentCodec(stft, cpu, bf16=True).bf16
    assert not LatentCodec(stft, cpu, bf16=False).bf16

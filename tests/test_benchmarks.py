"""The benchmark scripts run end to end at tiny sizes and write the JSON they promise.

Numbers from these runs mean nothing (tiny models, a busy test machine); the tests check that
every section runs, that the JSON holds positive timings, and that the peer models are matched.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    """Import a benchmark script as a module (by path, so spawned worker processes find it)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


def test_bench_unet_tiny_with_compiled_forward(tmp_path, capsys):
    out = tmp_path / "unet.json"
    _load("bench_unet").main(
        ["--config", "tiny", "--seconds", "1", "--repeats", "1", "--compile", "--json", str(out)]
    )
    res = json.loads(out.read_text())
    for key in (
        "forward_fp32_ms",
        "forward_bf16_ms",
        "forward_bf16_causal_ms",
        "forward_bf16_compiled_ms",
        "forward_bf16_pipeline_ms",
        "train_step_bf16_ms",
        "train_step_fp32_ms",
        "matmul_bf16_gflops",
        "forward_gflop",
    ):
        assert res[key] > 0, key
    assert "forward bf16 compiled" in capsys.readouterr().out


def test_bench_peers_tiny_matches_sizes(tmp_path, capsys):
    # find_spec, not import: audio-diffusion-pytorch cannot be imported without torchaudio (the
    # benchmark stands in for that one import)
    for mod in ("diffusers", "a_unet", "audio_diffusion_pytorch"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed: bash scripts/install_bench.sh")
    import torch

    from jen1.diffusion import packing

    out = tmp_path / "peers.json"
    _load("bench_peers").main(
        ["--config", "tiny", "--seconds", "1", "--repeats", "1", "--json", str(out)]
    )
    res = json.loads(out.read_text())
    models = res["models"]
    assert len(models) == 3
    ours = models["jen1 UNet1D"]
    for name, r in models.items():
        # matched size: every peer within 35% of our parameter count at this tiny width
        assert abs(r["params"] / ours["params"] - 1) < 0.35, (name, r["params"])
        for key in (
            "forward_gflop",
            "forward_fp32_ms",
            "forward_bf16_ms",
            "forward_bf16_weights_ms",
            "train_step_bf16_ms",
        ):
            assert r[key] > 0
        if name != "jen1 UNet1D":
            assert r["ours_speedup"]["forward_bf16_ms"] > 0
        if packing.packing_supported(torch.bfloat16):  # every model also ran prepacked
            assert r["forward_bf16_packed_ms"] > 0 and r["packed_layers_all"] > 0
            assert r["packed_rel_diff"] < 0.05
    assert "torchaudio" not in sys.modules or res["torchaudio_stubbed"] is False
    assert "our throughput / peer throughput" in capsys.readouterr().out


def test_bench_generate_tiny_model(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "gen.json"
    _load("bench_generate").main(
        [
            "--model", str(tiny_model_dir),
            "--seconds", "1",
            "--continue", "2",
            "--steps", "2",
            "--threads", "1",
            "--devices", "cpu",
            "--json", str(out),
        ]
    )  # fmt: skip
    doc = json.loads(out.read_text())
    gen, cont = doc["results"]
    assert gen["task"] == "generate" and cont["task"] == "continue"
    assert gen["text_s"] > 0 and gen["sampling_s"] > 0 and gen["decode_s"] > 0
    assert gen["total_s"] == pytest.approx(gen["text_s"] + gen["sampling_s"] + gen["decode_s"])
    assert cont["x_realtime"] > 0 and cont["peak_rss_mb"] > 0


def test_bench_generate_student_rows(tmp_path, tiny_model_dir, capsys):
    """--student: rows at each --student-steps beside the model's, in the same run."""
    out = tmp_path / "gen.json"
    _load("bench_generate").main(
        [
            "--model", str(tiny_model_dir),
            "--seconds", "1",
            "--continue",
            "--steps", "2",
            "--threads", "1",
            "--devices", "cpu",
            "--student", str(tiny_model_dir),
            "--student-steps", "1", "3",
            "--json", str(out),
        ]
    )  # fmt: skip
    rows = json.loads(out.read_text())["results"]
    assert [(r.get("model"), r["steps"]) for r in rows] == [
        (None, 2), ("student", 1), ("student", 3)
    ]
    assert all(r["sampling_s"] > 0 for r in rows)
    assert "student 3" in capsys.readouterr().out


def test_bench_generate_student_fast_takes_the_models_own(tmp_path, tiny_model_dir):
    """--student fast: the rows of MODEL/fast, the student --fast samples with."""
    import shutil

    from jen1.checkpoint import load_model_dir, save_model_dir

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    cfg, state = load_model_dir(model, ("unet",))
    import dataclasses

    fast_cfg = dataclasses.replace(
        cfg, sampling=dataclasses.replace(cfg.sampling, steps=2, cfg_scale=1.0)
    )
    save_model_dir(model / "fast", fast_cfg, {"unet": state["unet"]})
    out = tmp_path / "gen.json"
    _load("bench_generate").main(
        ["--model", str(model), "--seconds", "1", "--continue", "--steps", "1", "--threads", "1",
         "--devices", "cpu", "--student", "fast", "--student-steps", "2", "--json", str(out)]
    )  # fmt: skip
    rows = json.loads(out.read_text())["results"]
    assert [(r.get("model"), r["steps"]) for r in rows] == [(None, 1), ("student", 2)]
    shutil.rmtree(model / "fast")  # without a student the case fails, not the teacher's rows
    with pytest.raises(SystemExit, match="failed"):
        _load("bench_generate").main(
            ["--model", str(model), "--seconds", "1", "--continue", "--steps", "1",
             "--threads", "1", "--devices", "cpu", "--student", "fast", "--student-steps", "2"]
        )  # fmt: skip


def test_bench_generate_startup_breakdown(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "startup.json"
    _load("bench_generate").main(
        ["--model", str(tiny_model_dir), "--startup", "1", "--seconds", "1", "--steps", "2",
         "--json", str(out)]
    )  # fmt: skip
    (run,) = json.loads(out.read_text())["startup"]["runs"]
    phases = ("import_torch_s", "import_jen1_s", "load_s", "first_call_s", "second_call_s")
    assert all(run[k] > 0 for k in phases)
    assert run["command_s"] > run["load_s"]  # the whole command: start-up included
    assert "first_call_s" in capsys.readouterr().out


def test_bench_generate_refuses_cuda_without_cuda(tiny_model_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(SystemExit, match="CUDA is not available"):
        _load("bench_generate").main(["--model", str(tiny_model_dir), "--devices", "cuda"])


@pytest.mark.gpu
def test_bench_generate_gpu_section(tmp_path, tiny_model_dir):
    out = tmp_path / "gen.json"
    _load("bench_generate").main(
        ["--model", str(tiny_model_dir), "--seconds", "1", "--continue", "--steps", "2",
         "--devices", "cuda", "--json", str(out)]
    )  # fmt: skip
    (gen,) = json.loads(out.read_text())["results"]
    assert gen["device"] == "cuda" and gen["peak_gpu_mb"] > 0


def test_bench_autoencoder_quick(tmp_path):
    out = tmp_path / "ae.json"
    _load("bench_autoencoder").main(
        ["--config", "tiny", "--quick", "--no-train", "--reps", "1", "--threads", "1",
         "--json", str(out)]
    )  # fmt: skip
    res = json.loads(out.read_text())
    assert res["codec"] and all(r["encode_xrt"] > 0 and r["decode_xrt"] > 0 for r in res["codec"])


def test_bench_remix_tiny_writes_rows_and_png(tiny_model_dir, tmp_path, capsys):
    pytest.importorskip("musicnn", reason="the remix benchmark tags with musicnn")
    import numpy as np
    import soundfile as sf

    corpus = tmp_path / "corpus"
    (corpus / "audio").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sf.write(str(corpus / "audio" / "a.wav"), rng.uniform(-0.3, 0.3, (48000, 2)), 48000)
    row = {"path": "audio/a.wav", "caption": "soft folk guitar", "attributes": {"style": "folk"}}
    (corpus / "metadata.jsonl").write_text(json.dumps(row) + "\n")
    out, png = tmp_path / "remix.json", tmp_path / "remix.png"
    args = ["--corpus", str(corpus), "--clips", "1", "--seconds", "1", "--strengths", "0", "0.5"]
    _load("bench_remix").main(
        [*args, "--model", str(tiny_model_dir), "--json", str(out), "--png", str(png)]
    )
    res = json.loads(out.read_text())
    assert [r["strength"] for r in res["rows"]] == [0.0, 0.5]
    assert [r["steps_run"] for r in res["rows"]] == [0, 2]  # tiny: 4 steps
    assert all(r["mel"] > 0 and r["musicnn"] >= 0 for r in res["rows"])
    assert png.read_bytes()[:4] == b"\x89PNG" and "| 0.5 | 2 |" in capsys.readouterr().out


def test_bench_controls_tiny(tmp_path, capsys):
    out = tmp_path / "controls.json"
    _load("bench_controls").main(
        ["--steps", "3", "--seeds", "0", "--tempi", "2", "--json", str(out)]
    )
    res = json.loads(out.read_text())
    assert set(res["paths"]) == {"global", "aligned", "global+aligned"}
    for row in res["paths"].values():
        assert 0 <= row["within_4pct"] <= row["within_8pct"] <= 1 and row["train_seconds"] > 0
    assert "global+aligned" in capsys.readouterr().out


def test_bench_lora_tiny_runs_both_fine_tunes(tiny_model_dir, tmp_path, capsys):
    pytest.importorskip("musicnn", reason="the LoRA benchmark's FAD embeds with musicnn")
    import math

    import numpy as np
    import soundfile as sf

    corpus = tmp_path / "corpus"
    (corpus / "audio").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(8):
        sf.write(str(corpus / f"audio/{i}.wav"), rng.uniform(-0.3, 0.3, (24000, 2)), 48000)
        attrs = {"source": "test", "composition_id": f"c{i}"}
        rows.append(
            {"path": f"audio/{i}.wav", "seconds": 0.5, "caption": f"clip {i}", "split": "train"}
            | {"attributes": attrs}
        )
    (corpus / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "lora.json"
    args = ["--corpus", str(corpus), "--held-out", "0.25", "--init", str(tiny_model_dir)]
    args += ["--steps", "3", "--batch", "2", "--segment-seconds", "0.5", "--gen-steps", "2"]
    args += ["--precision", "32-true", "--work", str(tmp_path / "w"), "--json", str(out)]
    _load("bench_lora").main(args)
    res = json.loads(out.read_text())
    assert res["splits"] == {"train": 6, "test": 2}
    lora, full = res["runs"]["lora"], res["runs"]["full"]
    assert 0 < lora["trainable"] < full["trainable"] == full["total_params"]
    assert lora["artefact"] == "adapter.safetensors" and full["artefact"] == "model.safetensors"
    assert lora["artefact_bytes"] < full["artefact_bytes"]
    assert lora["steps"] == full["steps"] == 3 and lora["step_s"] > 0 and full["peak_rss_mb"] > 0
    assert all(math.isfinite(res["fad"][k]["fad"]) for k in ("base", "lora", "full"))
    assert "| lora (lr 0.001) |" in capsys.readouterr().out


def test_bench_ae_phase_runs_every_row(tmp_path, capsys):
    out = tmp_path / "phase.json"
    _load("bench_ae_phase").main(["--steps", "4", "--every", "2", "--json", str(out)])
    res = json.loads(out.read_text())
    heads = {(r["head"], r["magnitude_weight"]) for r in res["rows"]}
    assert heads == {(h, w) for h in ("scalar", "vector") for w in (1.0, 0.1, 0.0)}
    assert all(list(r["si_sdr_db"]) == ["2", "4"] for r in res["rows"])
    assert "SI-SDR dB of the overfit" in capsys.readouterr().out


def test_bench_lowband_share_and_bound(tmp_path, capsys):
    """A bass tone lies inside every low band, a treble one inside none: the table says so."""
    import math

    import soundfile as sf
    import torch

    t = torch.arange(3 * 48000) / 48000
    (tmp_path / "audio").mkdir()  # a folder of audio files (no manifest): all of them
    for name, hz in (("bass", 80.0), ("treble", 5000.0)):
        tone = 0.3 * torch.sin(2 * math.pi * hz * t)
        sf.write(tmp_path / "audio" / f"{name}.wav", torch.stack([tone, tone], 1).numpy(), 48000)
    bench = _load("bench_lowband")
    res = bench.measure([bench_clip(tmp_path / "audio" / "bass.wav")], bands=((16, 4),))
    assert res[0]["energy_share_median"] > 0.99 and res[0]["si_sdr_bound_median"] > 15
    res = bench.measure([bench_clip(tmp_path / "audio" / "treble.wav")], bands=((16, 4),))
    assert res[0]["energy_share_median"] < 0.01 and res[0]["si_sdr_bound_median"] < -30
    out = tmp_path / "lowband.json"
    bench.main(["--data", str(tmp_path), "--n", "2", "--seconds", "2", "--json", str(out)])
    assert json.loads(out.read_text())["clips"] == 2
    assert "1200" in capsys.readouterr().out


def bench_clip(path):
    import soundfile as sf
    import torch

    wav, _ = sf.read(path, dtype="float32")
    return torch.from_numpy(wav.T.copy())[None, :, : 2 * 48000]


def test_bench_latent_fit_rows_per_time(tmp_path, tiny_model_dir, capsys):
    import numpy as np
    import soundfile as sf

    from jen1.config import TextConfig
    from jen1.data.latents import build_latent_cache

    corpus = tmp_path / "corpus"
    (corpus / "audio").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, split in enumerate(["train", "train", "train", "val", "val"]):
        sf.write(corpus / f"audio/{i}.wav", rng.uniform(-0.3, 0.3, (24000, 2)), 48000)
        attrs = {"source": "test", "composition_id": f"c{i}"}
        rows.append({"path": f"audio/{i}.wav", "seconds": 0.5, "caption": f"clip {i}",
                     "split": split, "attributes": attrs})  # fmt: skip
    (corpus / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cache = tmp_path / "latents"
    build_latent_cache(corpus, tiny_model_dir, cache, text_cfg=TextConfig(max_length=16),
                       progress=False)  # fmt: skip
    out = tmp_path / "fit.json"
    args = ["--model", str(tiny_model_dir), "--cache", str(cache), "--clips", "2", "--frames", "8"]
    _load("bench_latent_fit").main([*args, "--json", str(out)])
    res = json.loads(out.read_text())["results"][0]
    assert [r["t"] for r in res["rows"]] == [0.1, 0.3, 0.5, 0.7, 0.9]
    shrink = [r["shrink"] for r in res["rows"]]
    assert all(a > b for a, b in zip(shrink, shrink[1:])) and 0 < shrink[-1] < shrink[0] < 1
    assert all(np.isfinite(r["all"]) for r in res["rows"])  # no low band: one group
    assert "R^2 of x0" in capsys.readouterr().out

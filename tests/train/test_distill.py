"""Distillation runs: a student trained against a frozen teacher, resumed, exported, sampled."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from jen1.checkpoint import load_model_dir
from jen1.cli import main
from jen1.config import TextConfig
from jen1.data.latents import build_latent_cache
from jen1.train.loop import latest_checkpoint, load_training_checkpoint
from jen1.train.stages import RUN_DISTILL

SR = 48000
SETS = [
    "--set",
    "train_diffusion.batch_size=2",
    "--set",
    "train_diffusion.segment_seconds=0.5",
    "--set",
    "train_diffusion.ckpt_every=1",
    "--set",
    "train_diffusion.log_every=1",
    "--set",
    "train_diffusion.warmup_steps=1",
    "--set",
    "train_diffusion.lr=0.01",
    "--set",
    "train_diffusion.precision=32-true",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory, tiny_model_dir):
    """Four noise clips encoded with the tiny model's autoencoder."""
    d = tmp_path_factory.mktemp("distill-corpus")
    (d / "audio").mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i, split in enumerate(["train"] * 3 + ["val"]):
        sf.write(str(d / f"audio/{i}.wav"), rng.uniform(-0.3, 0.3, (SR // 2, 2)), SR)
        rec = {"path": f"audio/{i}.wav", "seconds": 0.5, "caption": f"clip {i}", "split": split}
        lines.append(
            json.dumps({**rec, "attributes": {"source": "test", "composition_id": f"c{i}"}})
        )
    (d / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    build_latent_cache(
        d, tiny_model_dir, text_cfg=TextConfig(max_length=16), batch_size=2, progress=False
    )
    return d / "latents"


def test_a_distilled_student_trains_resumes_exports_and_generates(
    tmp_path, cache, tiny_model_dir, capsys
):
    run, out = tmp_path / "run", tmp_path / "student"
    base = ["train", "distill", "--data", str(cache), "--out", str(run), "--no-progress"]
    args = [*base, "--init", str(tiny_model_dir), "--distill-steps", "2", "--distill-grid", "8"]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a jazz trio\nsolo piano\n")
    probe = ["--eval-every", "2", "--eval-prompts", str(prompts)]
    probe += ["--eval-reference", str(cache.parent / "audio"), "--eval-n", "2"]
    probe += ["--eval-seconds", "0.5"]
    assert main([*args, "--max-steps", "2", *probe, *SETS]) == 0
    assert "step 2: eval fad" in capsys.readouterr().out  # the student's own sampling
    info = json.loads((run / RUN_DISTILL).read_text())
    assert (info["steps"], info["grid"], info["cfg_scale"]) == (2, 8, 2.0)  # the teacher's cfg
    assert info["method"] == "consistency"
    del info["method"]  # as a run from before the guidance method wrote it: it still resumes
    (run / RUN_DISTILL).write_text(json.dumps(info))
    assert main([*base, "--resume", "--max-steps", "3", *SETS]) == 0  # teacher from the run
    ckpt = load_training_checkpoint(latest_checkpoint(run))
    assert ckpt["step"] == 3 and ckpt["stage"] == "distill" and set(ckpt["modules"]) == {"unet"}
    # the student moved away from the teacher; the teacher's own weights are not in the run
    _, teacher = load_model_dir(tiny_model_dir, ("unet",))
    moved = [
        k
        for k, v in ckpt["modules"]["unet"].items()
        if not torch.equal(v.float(), teacher["unet"][k].float())
    ]
    assert moved
    capsys.readouterr()
    assert main([*base, "--resume", "--max-steps", "4", "--distill-steps", "4", *SETS]) == 2
    assert "resume it with the same settings" in capsys.readouterr().err

    assert main(["export", str(run), str(out)]) == 0
    cfg, _ = load_model_dir(out, ("unet",))
    assert (cfg.sampling.sampler, cfg.sampling.steps, cfg.sampling.cfg_scale) == ("lcm", 2, 1.0)
    wav = tmp_path / "x.wav"
    assert (
        main(
            [
                "generate",
                "a calm piano",
                "--model",
                str(out),
                "--seconds",
                "0.5",
                "--seed",
                "1",
                "--out",
                str(wav),
                "--no-progress",
            ]
        )
        == 0
    )
    assert sf.info(str(wav)).frames == SR // 2


def test_a_guidance_student_samples_with_the_teachers_sampler_and_no_guidance(
    tmp_path, cache, tiny_model_dir, capsys
):
    run, out = tmp_path / "run", tmp_path / "student"
    base = ["train", "distill", "--data", str(cache), "--out", str(run), "--no-progress"]
    args = [*base, "--init", str(tiny_model_dir), "--distill-method", "guidance"]
    args += ["--distill-steps", "3", "--distill-cfg", "3"]
    assert main([*args, "--max-steps", "2", *SETS]) == 0
    info = json.loads((run / RUN_DISTILL).read_text())
    assert (info["method"], info["steps"], info["cfg_scale"]) == ("guidance", 3, 3.0)
    capsys.readouterr()
    # another method on resume: refused before anything is built, in one line
    again = [*base, "--resume", "--max-steps", "3", *SETS]
    assert main([*again, "--distill-method", "consistency"]) == 2
    err = capsys.readouterr().err.strip()
    assert "distils by guidance" in err and "\n" not in err
    assert main(again) == 0  # the method, teacher and settings from the run
    ckpt = load_training_checkpoint(latest_checkpoint(run))
    assert ckpt["step"] == 3 and ckpt["stage"] == "distill"

    assert main(["export", str(run), str(out)]) == 0
    cfg, _ = load_model_dir(out, ("unet",))
    teacher_cfg, _ = load_model_dir(tiny_model_dir, ("unet",))
    assert cfg.sampling.sampler == teacher_cfg.sampling.sampler != "lcm"
    assert (cfg.sampling.steps, cfg.sampling.cfg_scale) == (3, 1.0)


def test_a_guidance_run_takes_the_teachers_steps_by_default(tmp_path, tiny_model_dir):
    from jen1.cli import build_parser, parse
    from jen1.commands.train import _distill_settings

    argv = ["train", "distill", "--data", "d", "--out", str(tmp_path / "r")]
    argv += ["--init", str(tiny_model_dir), "--distill-method", "guidance"]
    spec = _distill_settings(parse(build_parser(), argv))
    teacher_cfg, _ = load_model_dir(tiny_model_dir, ("unet",))
    assert (spec.method, spec.steps) == ("guidance", teacher_cfg.sampling.steps)
    assert spec.cfg_scale == teacher_cfg.sampling.cfg_scale


def test_bad_distill_flags_are_one_line_errors(tmp_path, cache, tiny_model_dir, capsys):
    base = ["train", "distill", "--data", str(cache), "--out", str(tmp_path / "r")]
    assert main(base) == 2
    assert "needs --init" in capsys.readouterr().err
    assert main([*base, "--init", str(tiny_model_dir), "--distill-grid", "7"]) == 2
    assert "multiple" in capsys.readouterr().err
    diff = ["train", "diffusion", "--data", str(cache), "--out", str(tmp_path / "d")]
    assert main([*diff, "--distill-steps", "2"]) == 2
    assert "need 'jen1 train distill'" in capsys.readouterr().err
    assert main([*diff, "--distill-method", "guidance"]) == 2
    assert "need 'jen1 train distill'" in capsys.readouterr().err
    guided = [*base, "--init", str(tiny_model_dir), "--distill-method", "guidance"]
    assert main([*guided, "--distill-grid", "8"]) == 2
    assert "--distill-grid applies to --distill-method consistency only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse's choices
        main([*base, "--init", str(tiny_model_dir), "--distill-method", "lcm"])
    assert exit_.value.code == 2 and "--distill-method" in capsys.readouterr().err


def test_a_student_ships_inside_its_model_and_fast_samples_with_it(
    tmp_path, cache, tiny_model_dir, capsys
):
    import shutil

    from jen1.checkpoint import save_model_dir
    from jen1.pipeline import Pipeline
    from jen1.student import fast_config

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    wav = tmp_path / "x.wav"
    gen = ["generate", "a calm piano", "--seconds", "0.5", "--seed", "1", "--no-progress"]
    assert main([*gen, "--model", str(model), "--fast", "-o", str(wav)]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no few-step student" in err and "jen1 train distill" in err and "\n" not in err
    assert not wav.exists()

    run = tmp_path / "run"
    args = ["train", "distill", "--data", str(cache), "--out", str(run), "--no-progress"]
    args += ["--init", str(model), "--distill-method", "guidance", "--distill-steps", "3"]
    assert main([*args, "--max-steps", "2", *SETS]) == 0
    # only a distillation run of this model's latents goes into it
    assert main(["export", str(tmp_path), str(model), "--student"]) == 2
    assert "is not one" in capsys.readouterr().err
    other = tmp_path / "other"
    cfg, state = load_model_dir(model)
    k = next(k for k in state["autoencoder"] if k.startswith("encoder."))
    state["autoencoder"][k] = state["autoencoder"][k] + 0.5
    save_model_dir(other, cfg, state)
    assert main(["export", str(run), str(other), "--student"]) == 2
    assert "another model's latents" in capsys.readouterr().err
    assert not (other / "fast").exists()
    assert main(["serve", "--port", "0", "--fast", "--model", str(other)]) == 2
    assert "has no few-step student" in capsys.readouterr().err

    assert main(["export", str(run), str(model), "--student"]) == 0
    _, fast_state = load_model_dir(model / "fast")
    assert set(fast_state) == {"unet"}  # the model's autoencoder is not copied
    assert main(["export", str(run), str(model), "--student"]) == 2
    assert "already has a student" in capsys.readouterr().err
    # replacing the model under its student is refused: the student would outlive its teacher
    assert main(["export", str(run), str(model), "--overwrite"]) == 2
    assert "holds a few-step student" in capsys.readouterr().err
    cfg = fast_config(model)
    assert (cfg.sampling.steps, cfg.sampling.cfg_scale) == (3, 1.0)

    # --fast samples with the student's weights and settings: the same as the student exported
    # as a model of its own, and not the teacher's weights run with the student's settings
    alone = tmp_path / "alone"
    assert main(["export", str(run), str(alone)]) == 0
    steps = []
    fast = Pipeline.from_pretrained(model, fast=True, pack=False)
    assert fast.cfg.sampling.steps == 3
    kw = {"seed": 3}
    a = fast.generate("a calm piano", 0.5, callback=lambda i, n: steps.append(n), **kw)
    assert steps and set(steps) == {3}
    b = Pipeline.from_pretrained(alone, pack=False).generate("a calm piano", 0.5, **kw)
    s = cfg.sampling
    teacher = Pipeline.from_pretrained(model, pack=False)
    c = teacher.generate("a calm piano", 0.5, steps=3, cfg_scale=1.0, sampler=s.sampler, **kw)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c, atol=1e-4)
    with pytest.raises(Exception, match="adapter adapts the model's own"):
        Pipeline.from_pretrained(model, fast=True, adapter=tmp_path)

    assert main([*gen, "--model", str(model), "--fast", "-o", str(wav)]) == 0
    assert sf.info(str(wav)).frames == SR // 2
    assert main([*gen, "--model", str(model), "--fast", "--adapter", str(tmp_path), "-o",
                 str(tmp_path / "y.wav")]) == 2  # fmt: skip
    assert "--fast and --adapter" in capsys.readouterr().err


def test_a_teacher_stored_in_bf16_fits_the_cache_of_its_float32_encoder(
    tmp_path, cache, tiny_model_dir, capsys
):
    """The shipped model is stored in bf16; a cache encoded with the float32 autoencoder it was
    exported from holds the same latents, so distilling (or fine-tuning) it on that cache is
    allowed; an encoder that differs by more than the rounding is refused."""
    from jen1.checkpoint import save_model_dir

    cfg, state = load_model_dir(tiny_model_dir)
    save_model_dir(tmp_path / "bf16", cfg, state, dtype=torch.bfloat16)
    k = next(k for k in state["autoencoder"] if k.startswith("encoder."))
    state["autoencoder"][k] = state["autoencoder"][k] + 0.5
    save_model_dir(tmp_path / "other", cfg, state, dtype=torch.bfloat16)
    base = ["train", "distill", "--data", str(cache), "--distill-method", "guidance"]
    base += ["--max-steps", "1", "--no-progress", *SETS]
    run = ["--out", str(tmp_path / "run")]
    assert main([*base, *run, "--init", str(tmp_path / "bf16")]) == 0
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "run2"), "--init", str(tmp_path / "other")]) == 2
    assert "encoded with another encoder" in capsys.readouterr().err

"""jen1 generate / inpaint / continue through the real CLI on a tiny random model."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

SR = 48000


def jen1(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "jen1.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    p = tmp_path_factory.mktemp("in") / "in.wav"
    rng = np.random.default_rng(0)
    sf.write(str(p), rng.uniform(-0.3, 0.3, (SR, 2)).astype(np.float32), SR, subtype="FLOAT")
    return p


def test_generate_writes_exact_duration_and_is_seeded(tiny_model_dir, tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    r = jen1(
        "generate", "calm piano", "--seconds", 0.75, "--seed", 5, "--model", tiny_model_dir, "-o", a
    )
    assert r.returncode == 0, r.stderr
    assert f"wrote {a}" in r.stdout and "seed 5" in r.stdout
    info = sf.info(str(a))
    assert (info.samplerate, info.channels, info.frames) == (SR, 2, round(0.75 * SR))
    assert (
        jen1(
            "generate",
            "calm piano",
            "--seconds",
            0.75,
            "--seed",
            5,
            "--model",
            tiny_model_dir,
            "-o",
            b,
            "--no-progress",
        ).returncode
        == 0
    )
    assert a.read_bytes() == b.read_bytes()


def test_never_overwrites_without_flag(tiny_model_dir, tmp_path):
    out = tmp_path / "x.wav"
    out.write_bytes(b"mine")
    r = jen1("generate", "rock", "--seconds", 0.3, "--model", tiny_model_dir, "-o", out)
    assert r.returncode == 2 and r.stderr.startswith("error:") and "--overwrite" in r.stderr
    assert out.read_bytes() == b"mine"
    r = jen1(
        "generate", "rock", "--seconds", 0.3, "--model", tiny_model_dir, "-o", out, "--overwrite"
    )
    assert r.returncode == 0 and sf.info(str(out)).frames == round(0.3 * SR)


def test_precision_flag(tiny_model_dir, tmp_path):
    out = tmp_path / "f.wav"
    args = ("generate", "rock", "--seconds", 0.3, "--model", tiny_model_dir, "-o", out)
    r = jen1(*args, "--precision", "fp32")
    assert r.returncode == 0, r.stderr
    assert sf.info(str(out)).frames == round(0.3 * SR)
    r = jen1(*args, "--precision", "half", "--overwrite")
    assert r.returncode == 2 and "invalid choice: 'half'" in r.stderr


def test_batch_numbers_outputs(tiny_model_dir, tmp_path):
    r = jen1(
        "generate",
        "funk",
        "--seconds",
        0.3,
        "--batch",
        2,
        "--model",
        tiny_model_dir,
        "-o",
        tmp_path / "v.wav",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "v-1.wav").exists() and (tmp_path / "v-2.wav").exists()


def test_inpaint_and_continue(tiny_model_dir, tmp_path, clip):
    r = jen1(
        "inpaint",
        clip,
        "a flute",
        "--start",
        0.2,
        "--end",
        0.5,
        "--model",
        tiny_model_dir,
        "-o",
        tmp_path / "i.wav",
        "--seed",
        1,
        "--float",
    )
    assert r.returncode == 0, r.stderr
    src, _ = sf.read(str(clip), dtype="float32")
    out, _ = sf.read(str(tmp_path / "i.wav"), dtype="float32")
    assert out.shape == src.shape
    assert np.array_equal(out[: round(0.2 * SR)], src[: round(0.2 * SR)])
    assert np.array_equal(out[round(0.5 * SR) :], src[round(0.5 * SR) :])
    # the README's order: the prompt after the options
    r = jen1(
        "inpaint",
        clip,
        "--start",
        0.2,
        "--end",
        0.5,
        "a flute",
        "--model",
        tiny_model_dir,
        "-o",
        tmp_path / "i2.wav",
        "--seed",
        1,
        "--float",
    )
    assert r.returncode == 0, r.stderr
    assert np.array_equal(sf.read(str(tmp_path / "i2.wav"), dtype="float32")[0], out)
    r = jen1(
        "continue", clip, "--seconds", 1.25, "--model", tiny_model_dir, "-o", tmp_path / "c.wav"
    )
    assert r.returncode == 0, r.stderr
    assert sf.info(str(tmp_path / "c.wav")).frames == SR + round(1.25 * SR)


def test_prompt_negative_prompt_and_guidance_reach_the_model(tiny_model_dir, tmp_path):
    """Same seed: another prompt, or a negative prompt at --cfg 3, changes the audio; at
    --cfg 1 the negative prompt has no weight (the output is the conditional one)."""

    def run(name, *flags):
        out = tmp_path / f"{name}.wav"
        args = ("generate", "--seconds", 0.5, "--seed", 3, "--steps", 3, "--float", *flags)
        r = jen1(*args, "--model", tiny_model_dir, "-o", out, "--no-progress")
        assert r.returncode == 0, r.stderr
        return sf.read(str(out), dtype="float32")[0]

    jazz, rock = run("jazz", "a jazz trio", "--cfg", 3), run("rock", "a rock band", "--cfg", 3)
    assert not np.allclose(jazz, rock, atol=1e-4)
    steered = run("neg", "a jazz trio", "--cfg", 3, "--negative", "distorted noise")
    assert not np.allclose(jazz, steered, atol=1e-4)
    cond = run("cfg1", "a jazz trio", "--cfg", 1)
    assert np.array_equal(cond, run("cfg1neg", "a jazz trio", "--cfg", 1, "--negative", "noise"))
    assert not np.allclose(cond, jazz, atol=1e-4)


def test_inpaint_prompt_changes_only_the_gap(tiny_model_dir, tmp_path, clip):
    outs = []
    for prompt in ("a flute", "heavy drums"):
        out = tmp_path / f"{prompt[0]}.wav"
        args = ("inpaint", clip, prompt, "--start", 0.2, "--end", 0.5, "--seed", 1, "--float")
        r = jen1(*args, "--model", tiny_model_dir, "-o", out, "--no-progress")
        assert r.returncode == 0, r.stderr
        outs.append(sf.read(str(out), dtype="float32")[0])
    src = sf.read(str(clip), dtype="float32")[0]
    a, e = round(0.2 * SR), round(0.5 * SR)
    for out in outs:
        assert np.array_equal(out[:a], src[:a]) and np.array_equal(out[e:], src[e:])
    assert not np.allclose(outs[0][a:e], outs[1][a:e], atol=1e-4)


@pytest.mark.parametrize(
    "args, match",
    [
        (["generate", "x", "--seed", str(2**70)], "--seed must be between 0 and 2**63 - 1"),
        (["generate", "x", "--seed", "-1"], "--seed must be between 0 and 2**63 - 1"),
        (["generate", "x", "--seconds", "0.00001"], "--seconds must be at least"),
        (["generate", "x", "--steps", "0"], "--steps must be between 1 and 1000"),
        (["continue", "CLIP", "--seconds", "0.00001", "-o", "OUT"], "--seconds must be at least"),
        (["generate", "  ", "--seconds", "1"], "prompt is empty"),
        (["generate", "x", "--seconds", "0"], "positive"),
        (["generate", "x", "--seconds", "-3"], "positive"),
        (["generate", "x", "--seconds", "1e7"], "limit"),
        (["generate", "x", "--sampler", "warp"], "unknown sampler"),
        (["generate", "x", "--cfg", "-1"], "--cfg must be between 0 and 50"),
        (["generate", "x", "--cfg", "nan"], "--cfg must be between 0 and 50"),
        (["inpaint", "CLIP", "--start", "0", "--end", "0.9", "-o", "OUT"], "longer than"),
        (["inpaint", "CLIP", "--start", "0.5", "--end", "0.2", "-o", "OUT"], "--start"),
        (["inpaint", "CLIP", "--start", "0.5", "--end", "9", "-o", "OUT"], "after the end"),
        (["inpaint", "NOFILE", "--start", "0", "--end", "1", "-o", "OUT"], "not found"),
        (["continue", "BAD", "--seconds", "1", "-o", "OUT"], "cannot read"),
    ],
)
def test_errors_are_one_line_exit_2(tiny_model_dir, tmp_path, clip, args, match):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio" * 20)
    subs = {
        "CLIP": str(clip),
        "OUT": str(tmp_path / "o.wav"),
        "NOFILE": str(tmp_path / "no.wav"),
        "BAD": str(bad),
    }
    args = [subs.get(a, a) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "o.wav")]
    r = jen1(*args, "--model", tiny_model_dir)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error:") and match in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0
    assert not (tmp_path / "o.wav").exists()


def test_the_largest_seed_is_accepted_and_printed_exactly(tiny_model_dir, tmp_path):
    out = tmp_path / "s.wav"
    r = jen1(
        "generate", "x", "--seconds", 0.1, "--seed", 2**63 - 1, "--model", tiny_model_dir, "-o", out
    )
    assert r.returncode == 0, r.stderr
    assert f"seed {2**63 - 1};" in r.stdout

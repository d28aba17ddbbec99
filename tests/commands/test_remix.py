"""jen1 remix through the real CLI on a tiny random model."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

SR = 48000


def jen1(*args):
    return subprocess.run(
        [sys.executable, "-m", "jen1.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def mono_clip(tmp_path_factory):
    """0.75 s of mono noise at 44.1 kHz (converted to 48 kHz stereo like every input)."""
    p = tmp_path_factory.mktemp("in") / "mono.wav"
    rng = np.random.default_rng(0)
    sf.write(str(p), rng.uniform(-0.3, 0.3, 33075).astype(np.float32), 44100, subtype="PCM_16")
    return p


def test_remix_writes_the_input_length_and_is_seeded(tiny_model_dir, mono_clip, tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    args = ("remix", mono_clip, "jazz piano", "--strength", 0.4, "--seed", 3, "--steps", 3)
    r = jen1(*args, "--model", tiny_model_dir, "-o", a)
    assert r.returncode == 0, r.stderr
    assert f"wrote {a}" in r.stdout and "seed 3" in r.stdout
    info = sf.info(str(a))
    assert (info.samplerate, info.channels, info.frames) == (SR, 2, 36000)
    r = jen1(*args, "--model", tiny_model_dir, "-o", b, "--no-progress")
    assert r.returncode == 0 and a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    "strength, words",
    [
        ("1.5", "--strength must be between 0 (keep the input) and 1 (ignore it), got 1.5"),
        ("nan", "--strength must be between 0"),
        ("-0.1", "--strength must be between 0"),
        ("half", "argument --strength: invalid float value: 'half'"),
    ],
)
def test_bad_strength_is_one_line_and_writes_nothing(
    tiny_model_dir, mono_clip, tmp_path, strength, words
):
    out = tmp_path / "o.wav"
    r = jen1("remix", mono_clip, "x", "--strength", strength, "--model", tiny_model_dir, "-o", out)
    assert r.returncode == 2 and r.stderr.startswith("error:") and words in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_bad_inputs_and_existing_output(tiny_model_dir, mono_clip, tmp_path):
    out = tmp_path / "o.wav"
    empty, corrupt = tmp_path / "empty.wav", tmp_path / "corrupt.wav"
    empty.write_bytes(b"")
    corrupt.write_bytes(b"RIFF not really a wave file" * 10)
    for path, words in ((empty, "empty"), (corrupt, "cannot read audio file")):
        r = jen1("remix", path, "x", "--model", tiny_model_dir, "-o", out)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.splitlines()) == 1
        assert not out.exists()
    out.write_bytes(b"mine")
    r = jen1("remix", mono_clip, "x", "--model", tiny_model_dir, "-o", out)
    assert r.returncode == 2 and "--overwrite" in r.stderr and out.read_bytes() == b"mine"

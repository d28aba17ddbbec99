"""The training loop: DDP equality, exact resume, and checkpoints on SIGTERM (toy stage)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from jen1.train.loop import (
    make_loggers,
    StepBatchSampler,
    latest_checkpoint,
    list_checkpoints,
    load_training_checkpoint,
)

SCRIPT = Path(__file__).with_name("toy_stage.py")


def _run(
    out: Path,
    devices: int,
    steps: int,
    batch: int = 8,
    acc: int = 1,
    resume: bool = False,
    sleep: float = 0.0,
    wait: bool = True,
    compile_: bool = False,
):
    cmd = [
        sys.executable,
        str(SCRIPT),
        str(out),
        str(devices),
        str(steps),
        str(batch),
        str(acc),
        "1" if resume else "0",
        str(sleep),
        "1" if compile_ else "0",
    ]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _params(out: Path, rank: int = 0) -> torch.Tensor:
    return torch.load(out / f"params-rank{rank}.pt")


def _losses(out: Path) -> list[float]:
    """The loss curve over all (re)starts of a run (one logs/version_N folder each)."""
    rows = []
    for d in sorted((out / "logs").glob("version_*"), key=lambda p: int(p.name.split("_")[1])):
        with open(d / "metrics.csv") as f:
            rows += [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f) if r.get("loss")]
    return [loss for _, loss in sorted(rows)]


def test_sampler_covers_global_batch_once():
    world, g, acc = 2, 8, 2
    micro = g // (world * acc)
    seen = []
    for rank in range(world):
        s = StepBatchSampler(20, g, micro, acc, rank, world, seed=0, start_step=3, max_steps=4)
        for b in s:
            seen += [pos for pos, _, _ in b]
    assert sorted(seen) == list(range(24, 32))


def test_ddp_two_processes_equal_one_process(tmp_path):
    _run(tmp_path / "one", devices=1, steps=6)
    _run(tmp_path / "two", devices=2, steps=6)
    p1, r0, r1 = (
        _params(tmp_path / "one"),
        _params(tmp_path / "two", 0),
        _params(tmp_path / "two", 1),
    )
    assert torch.equal(r0, r1), "ranks diverged"
    assert torch.allclose(p1, r0, atol=1e-5), (p1 - r0).abs().max()


def test_gradient_accumulation_equals_full_batch(tmp_path):
    _run(tmp_path / "full", devices=1, steps=6, batch=8, acc=1)
    _run(tmp_path / "acc", devices=1, steps=6, batch=8, acc=4)
    assert torch.allclose(_params(tmp_path / "full"), _params(tmp_path / "acc"), atol=1e-5)


def test_resume_repeats_uninterrupted_run(tmp_path):
    _run(tmp_path / "a", devices=1, steps=12)
    _run(tmp_path / "b", devices=1, steps=7)
    assert load_training_checkpoint(latest_checkpoint(tmp_path / "b"))["step"] == 7
    _run(tmp_path / "b", devices=1, steps=12, resume=True)
    assert torch.equal(_params(tmp_path / "a"), _params(tmp_path / "b"))
    assert _losses(tmp_path / "a") == pytest.approx(
        _losses(tmp_path / "b"), rel=1e-6
    )  # whole curve
    assert len(list_checkpoints(tmp_path / "b")) == 2  # keep_last


def test_compiled_training_matches_eager_and_resumes_without_compile(tmp_path):
    _run(tmp_path / "eager", devices=1, steps=6)
    _run(tmp_path / "compiled", devices=1, steps=6, compile_=True)
    assert torch.allclose(_params(tmp_path / "eager"), _params(tmp_path / "compiled"), atol=1e-5)
    # in-place compile keeps plain state_dict keys: the checkpoint resumes in an eager process
    _run(tmp_path / "compiled", devices=1, steps=8, resume=True)
    assert load_training_checkpoint(latest_checkpoint(tmp_path / "compiled"))["step"] == 8


def test_sigterm_saves_a_checkpoint_and_resumes(tmp_path):
    out = tmp_path / "sig"
    proc = _run(out, devices=1, steps=1000, sleep=0.05, wait=False)
    deadline = time.time() + 120
    while latest_checkpoint(out) is None and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stdout.read().decode()
    state = load_training_checkpoint(latest_checkpoint(out))
    stopped = state["step"]
    assert 5 <= stopped < 1000
    assert set(state) >= {
        "modules",
        "ema",
        "optimizers",
        "schedulers",
        "step",
        "rng",
        "config",
        "jen1_version",
        "data_position",
    }
    _run(out, devices=1, steps=stopped + 3, resume=True)
    assert load_training_checkpoint(latest_checkpoint(out))["step"] == stopped + 3


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    from jen1.errors import Jen1Error

    p = tmp_path / "ckpt-00000001.pt"
    p.write_bytes(b"garbage")
    with pytest.raises(Jen1Error, match="truncated or corrupt"):
        load_training_checkpoint(p)


def test_csv_log_is_written_at_every_log_call(tmp_path):
    """A run killed without warning keeps its loss curve: the CSV is on disk after each log call
    (Lightning's flush rule (step + 1) % n == 0 never fired for steps that are multiples of n)."""
    csv_logger, _ = make_loggers(tmp_path)
    for step in (10, 20):
        csv_logger.log_metrics({"loss": 1.0 / step}, step=step)
        path = Path(csv_logger.log_dir) / "metrics.csv"
        assert path.exists(), f"no metrics.csv after the log call at step {step}"
        rows = list(csv.DictReader(path.open()))
        assert [int(r["step"]) for r in rows][-1] == step

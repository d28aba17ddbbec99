"""The thread governor: torch's threads follow the cores other programs leave free."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from jen1.threads import ThreadGovernor, allowed_cpus

BUSY = "import os\np = os.getppid()\nwhile os.getppid() == p:\n    sum(range(10000))\n"


@pytest.fixture
def restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_free_cores_from_two_snapshots():
    g = ThreadGovernor(max_threads=4)
    n = len(g.cpus)
    # one second: (n - 0.5) CPU-seconds busy, of which 1.5 were this process's own
    assert g.free_cores((0.0, 10.0, 3.0), (1.0, 10.0 + n - 0.5, 4.5)) == pytest.approx(2.0)
    assert g.free_cores((0.0, 0.0, 0.0), (1.0, 3.0 * n, 0.0)) == 0.0  # clamped


def test_busy_machine_gets_one_thread_and_idle_ceiling_is_kept(restore_threads):
    n = len(allowed_cpus())
    if n < 2:
        pytest.skip("one CPU: one thread either way")
    g = ThreadGovernor(max_threads=n, interval=0.2)
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]
    try:
        time.sleep(0.5)
        g.update()  # starts a fresh interval
        time.sleep(0.6)
        assert g.update() == 1 and torch.get_num_threads() == 1
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert ThreadGovernor(max_threads=1).update() == 1  # --threads 1 stays 1


def test_pipeline_forwards_consult_the_governor(tiny_model_dir, restore_threads):
    from jen1.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(tiny_model_dir)
    g = pipe.thread_governor
    assert isinstance(g, ThreadGovernor)
    calls = []
    g.update = lambda: calls.append(1) or 1  # instance attribute: the hook looks it up
    out = pipe.generate("calm piano", seconds=0.5, steps=2, seed=0)
    assert out.shape[-1] == 24000 and len(calls) >= 3  # U-Net steps and the decoder


def test_contention_benchmark_prints_idle_and_busy_side_by_side(tiny_model_dir, tmp_path, capsys):
    import importlib
    import json
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        mod = importlib.import_module("bench_generate")
    finally:
        sys.path.remove(str(bench))
    out = tmp_path / "busy.json"
    mod.main(
        ["--model", str(tiny_model_dir), "--seconds", "0.5", "--steps", "1"]
        + ["--contention", "1", "--json", str(out)]
    )
    row = json.loads(out.read_text())["contention"][0]
    for mode in ("fixed", "adaptive"):
        assert row[mode]["idle_s"] > 0 and row[mode]["busy_s"] > 0
        assert row[mode]["ratio"] == pytest.approx(row[mode]["busy_s"] / row[mode]["idle_s"])
    text = capsys.readouterr().out
    assert "fixed" in text and "adaptive" in text and "beside 1 busy processes" in text

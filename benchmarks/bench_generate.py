"""End-to-end generation speed and memory: prints a table and writes JSON.

For each duration: wall time split into text encoding, sampling and decoding, x real time, and
the process's peak RSS (each case runs in a fresh subprocess so peaks do not mix). Continuation
cases measure a long left-to-right continuation (sliding causal window, then the decoded
windows written to a WAV as they come, as ``jen1 continue`` does).
When CUDA is present a GPU section repeats every case on the GPU and adds its peak memory.

    python benchmarks/bench_generate.py [--model DIR] [--seconds 10 30 60] [--continue 30 120 600]
        [--steps N] [--devices cpu cuda] [--json PATH]

``--contention N`` measures a busy machine instead: each ``--seconds`` generate case runs on the
idle machine, then again while N busy-loop processes (one per core, say) keep the CPUs busy, in
turn ``--repeats`` times, once with the thread governor off ("fixed": torch's thread count
throughout, as before :mod:`jen1.threads`) and once on ("adaptive"); it prints the median times
side by side with their ratios::

    python benchmarks/bench_generate.py --contention 2 --seconds 10 --repeats 3 --json busy.json

``--startup N`` measures a cold start instead, N times each in a fresh process: the imports
(torch, then jen1's generate path), loading the model, the first 10 s generation (oneDNN kernels
are created here) and a second one; then the whole ``jen1 generate`` command, start to exit::

    python benchmarks/bench_generate.py --startup 5 --json startup.json

``--student DIR`` adds rows for a distilled few-step student (``jen1 train distill``, then
``jen1 export``) beside the model's, in the same run: each ``--seconds`` generate case at each of
``--student-steps`` (default 4 and 8); ``--student fast`` takes the model's own student
(``MODEL/fast``, what ``--fast`` samples with)::

    python benchmarks/bench_generate.py --seconds 10 --continue --student runs/student
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _child(args: argparse.Namespace) -> None:
    import resource

    import torch

    from jen1.pipeline import Pipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    t0 = time.perf_counter()
    pipe = Pipeline.from_pretrained(args.model, device=args.device, fast=args.fast)
    if args.fixed_threads and pipe.thread_governor is not None:
        pipe.thread_governor.enabled = False  # the thread count torch starts with, throughout
    sync()
    load_s = time.perf_counter() - t0
    steps = args.steps or pipe.cfg.sampling.steps
    prompt = "an upbeat bossa nova with nylon guitar and soft drums at 120 BPM"
    pipe.generate(prompt, seconds=1.0, steps=2, seed=0)  # warm-up (kernels, allocator)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    res: dict = {
        "device": args.device,
        "task": args.task,
        "seconds": args.case,
        "steps": steps,
        "load_s": load_s,
        "threads": torch.get_num_threads(),
    }
    if args.task == "generate":
        from jen1.request import SamplingParams

        params = SamplingParams(steps=steps).resolve(pipe.cfg.sampling)
        t = time.perf_counter()
        text = pipe._text((prompt,), 1, params)
        sync()
        res["text_s"] = time.perf_counter() - t
        t = time.perf_counter()
        gen = torch.Generator().manual_seed(0)
        b, c = 1, pipe.cfg.autoencoder.latent_dim
        z = pipe._roll(
            torch.zeros(b, c, 0),
            torch.zeros(b, 1, 0),
            pipe._frames(args.case),
            text,
            params,
            first_causal=False,
            gen=gen,
            cb=None,
            controls=None,  # the shipped model takes none
        )
        sync()
        res["sampling_s"] = time.perf_counter() - t
        t = time.perf_counter()
        pipe.codec.decode(z, length=round(args.case * 48000))
        sync()
        res["decode_s"] = time.perf_counter() - t
        res["total_s"] = res["text_s"] + res["sampling_s"] + res["decode_s"]
    else:
        import tempfile

        from jen1.audio import save_audio_stream

        seed_audio = pipe.generate(prompt, seconds=5.0, steps=steps, seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()  # as `jen1 continue` does it: written to disk as decoded
            pieces = pipe.continue_stream(seed_audio, prompt, args.case, steps=steps, seed=1)
            save_audio_stream([Path(tmp) / "continued.wav"], pieces)
            sync()
            res["total_s"] = time.perf_counter() - t
    res["x_realtime"] = args.case / res["total_s"]
    res["threads_end"] = torch.get_num_threads()  # what the thread governor settled on
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if cuda:
        res["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        res["gpu"] = torch.cuda.get_device_name()
    print("RESULT " + json.dumps(res))


PROMPT = "an upbeat bossa nova with nylon guitar and soft drums at 120 BPM"


def _startup_child(args: argparse.Namespace) -> None:
    """One cold start, phase by phase (nothing heavy is imported before the clock starts)."""
    import resource

    t0 = time.perf_counter()
    import torch

    t1 = time.perf_counter()
    import jen1.commands.generate  # noqa: F401  (what the command imports before loading)
    from jen1.pipeline import Pipeline

    t2 = time.perf_counter()
    pipe = Pipeline.from_pretrained(args.model)
    t3 = time.perf_counter()
    calls = []
    for _ in range(2):
        t = time.perf_counter()
        pipe.generate(PROMPT, seconds=args.case, steps=args.steps, seed=0)
        calls.append(time.perf_counter() - t)
    res = {
        "import_torch_s": t1 - t0,
        "import_jen1_s": t2 - t1,
        "load_s": t3 - t2,
        "first_call_s": calls[0],
        "second_call_s": calls[1],
        "threads": torch.get_num_threads(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print("RESULT " + json.dumps(res))


def startup(args: argparse.Namespace) -> dict:
    """``args.startup`` cold starts, phase by phase, and as many whole ``jen1 generate`` runs,
    interleaved -> medians and every run."""
    import statistics
    import tempfile

    sec = args.seconds[0] if args.seconds else 10.0
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.startup):
            cmd = [sys.executable, __file__, "--_child", "--_task", "startup", "--_case", str(sec)]
            for flag, val in (("--model", args.model), ("--steps", args.steps)):
                if val is not None:
                    cmd += [flag, str(val)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
            if out.returncode != 0 or not line:
                print(out.stderr[-2000:], file=sys.stderr)
                raise SystemExit("startup case failed")
            res = json.loads(line[0][7:])
            gen = [sys.executable, "-c", "from jen1.cli import main; raise SystemExit(main())"]
            gen += ["generate", PROMPT, "--seconds", str(sec), "--seed", "0", "--no-progress"]
            gen += ["-o", str(Path(tmp) / "out.wav"), "--overwrite"]
            if args.model:
                gen += ["--model", str(args.model)]
            if args.steps:
                gen += ["--steps", str(args.steps)]
            t = time.perf_counter()
            done = subprocess.run(gen, capture_output=True, text=True)
            res["command_s"] = time.perf_counter() - t
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                raise SystemExit("jen1 generate failed")
            runs.append(res)
            print("  " + " ".join(f"{k} {v:.2f}" for k, v in res.items()), flush=True)
    keys = [k for k in runs[0] if k.endswith("_s") or k == "peak_rss_mb"]
    med = {k: statistics.median(r[k] for r in runs) for k in keys}
    print(f"\ncold start, {sec:g} s of audio, median of {len(runs)} (seconds)")
    for k in keys:
        print(f"  {k:<16} {med[k]:8.2f}")
    return {"startup": {"seconds": sec, "median": med, "runs": runs}}


# CPU-bound until its parent is gone (a benchmark killed midway leaves no busy loop behind).
BUSY_LOOP = (
    "import os\nparent = os.getppid()\n"
    "while os.getppid() == parent:\n    for _ in range(100000):\n        pass\n"
)


def _run_case(
    args: argparse.Namespace,
    dev: str,
    task: str,
    sec: float,
    fixed: bool = False,
    model: str | None = None,
    steps: int | None = None,
) -> dict:
    """One case in a fresh subprocess -> its RESULT dict (``fixed``: thread governor off;
    ``model``, ``steps``: instead of ``--model`` and ``--steps``)."""
    cmd = [sys.executable, __file__, "--_child", "--_task", task, "--_case", str(sec)]
    cmd += ["--_device", dev]
    if model == "fast":  # the model's own student, MODEL/fast
        cmd.append("--_fast")
        model = None
    for flag, val in (
        ("--model", model or args.model),
        ("--steps", steps or args.steps),
        ("--threads", args.threads),
    ):
        if val is not None:
            cmd += [flag, str(val)]
    if fixed:
        cmd.append("--_fixed-threads")
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode != 0 or not line:
        print(out.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"case {task} {sec} s on {dev} failed")
    return json.loads(line[0][7:])


def _busy(n: int) -> list[subprocess.Popen]:
    """Start ``n`` CPU-bound processes (a Python busy loop each)."""
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(n)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


MODES = {"fixed": True, "adaptive": False}  # name -> governor off


def contention(args: argparse.Namespace) -> dict:
    """Idle vs ``args.contention`` busy processes for each generate case, with the thread
    governor off ("fixed": torch's thread count throughout) and on ("adaptive"), all runs
    interleaved so that a change in the machine's background load hits every column alike."""
    import statistics

    rows = []
    for sec in args.seconds:
        runs: dict[str, list[dict]] = {f"{m}/{b}": [] for m in MODES for b in ("idle", "busy")}
        for _ in range(args.repeats):
            for mode, fixed in MODES.items():
                runs[f"{mode}/idle"].append(_run_case(args, "cpu", "generate", sec, fixed))
                procs = _busy(args.contention)
                try:
                    time.sleep(0.5)  # let the scheduler see them running
                    runs[f"{mode}/busy"].append(_run_case(args, "cpu", "generate", sec, fixed))
                finally:
                    _stop(procs)
                print(
                    f"  {mode:<8} idle {runs[f'{mode}/idle'][-1]['total_s']:.2f} s, "
                    f"busy {runs[f'{mode}/busy'][-1]['total_s']:.2f} s",
                    flush=True,
                )
        med = {k: statistics.median(r["total_s"] for r in v) for k, v in runs.items()}
        row = {"seconds": sec, "busy_processes": args.contention, "repeats": args.repeats}
        for mode in MODES:
            idle, busy = med[f"{mode}/idle"], med[f"{mode}/busy"]
            row[mode] = {"idle_s": idle, "busy_s": busy, "ratio": busy / idle}
            print(
                f"generate {sec:>4.0f} s  {mode:<8}  idle {idle:6.2f} s  beside "
                f"{args.contention} busy processes {busy:6.2f} s  ratio {busy / idle:5.2f}x  "
                "(each: idle "
                + " ".join(f"{r['total_s']:.2f}" for r in runs[f"{mode}/idle"])
                + "; busy "
                + " ".join(f"{r['total_s']:.2f}" for r in runs[f"{mode}/busy"])
                + ")",
                flush=True,
            )
        row["adaptive_idle_vs_fixed_idle"] = med["adaptive/idle"] / med["fixed/idle"]
        print(f"adaptive idle / fixed idle: {row['adaptive_idle_vs_fixed_idle']:.3f}", flush=True)
        row["runs"] = runs
        rows.append(row)
    return {"contention": rows}


def _write_json(doc: dict, path: str | None) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None)
    p.add_argument("--seconds", type=float, nargs="*", default=[10, 30, 60])
    p.add_argument("--continue", dest="cont", type=float, nargs="*", default=[30, 120, 600])
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--devices",
        nargs="*",
        default=None,
        help="devices to run every case on (default: cpu, plus cuda when CUDA is present)",
    )
    p.add_argument("--_device", dest="device", default="cpu", help=argparse.SUPPRESS)
    p.add_argument("--json", default=None)
    p.add_argument(
        "--contention",
        type=int,
        default=None,
        metavar="N",
        help="compare each --seconds generate case idle and beside N busy-loop processes",
    )
    p.add_argument("--repeats", type=int, default=1, help="runs per case with --contention")
    p.add_argument(
        "--startup",
        type=int,
        default=None,
        metavar="N",
        help="N cold starts: import, load, first call; and N whole 'jen1 generate' commands",
    )
    p.add_argument(
        "--student",
        default=None,
        metavar="DIR",
        help="a distilled student (a model directory, or 'fast': the model's own, "
        "MODEL/fast): rows beside the model's",
    )
    p.add_argument("--student-steps", type=int, nargs="*", default=[4, 8])
    p.add_argument(
        "--_fixed-threads", dest="fixed_threads", action="store_true", help=argparse.SUPPRESS
    )
    p.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_fast", dest="fast", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_task", dest="task", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_case", dest="case", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:
        _startup_child(args) if args.task == "startup" else _child(args)
        return
    import platform

    import torch

    if args.startup is not None:
        if args.startup < 1:
            raise SystemExit("error: --startup must be at least 1")
        doc = {
            "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            **startup(args),
        }
        _write_json(doc, args.json)
        return
    if args.contention is not None:
        if args.contention < 1 or args.repeats < 1:
            raise SystemExit("error: --contention and --repeats must be at least 1")
        doc = {
            "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "env": {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "GOMP_", "JEN1"))},
            **contention(args),
        }
        _write_json(doc, args.json)
        return
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    if any(d.startswith("cuda") for d in devices) and not torch.cuda.is_available():
        raise SystemExit("error: a cuda device was asked for but CUDA is not available")
    if args.student is not None and (not args.student_steps or min(args.student_steps) < 1):
        raise SystemExit("error: --student-steps needs step counts of at least 1")
    cases = [("generate", s) for s in args.seconds] + [("continue", s) for s in args.cont]
    cases = [(dev, task, sec, None) for dev in devices for task, sec in cases]
    if args.student is not None:  # after the model's, on the same machine in the same run
        cases += [
            (dev, "generate", sec, k)
            for dev in devices
            for k in args.student_steps
            for sec in args.seconds
        ]
    results = []
    for dev, task, sec, k in cases:
        if dev != "cpu" and (dev, task, sec, k) == next(c for c in cases if c[0] == dev):
            print(f"GPU section ({dev})", flush=True)
        if k is None:
            results.append(_run_case(args, dev, task, sec))
        else:
            results.append(_run_case(args, dev, task, sec, model=args.student, steps=k))
            results[-1]["model"] = "student"
        r = results[-1]
        label = task if k is None else f"student {k}"
        print(
            f"{label:<10} {sec:>6.0f} s  total {r['total_s']:7.2f} s  "
            f"{r['x_realtime']:6.1f}x real time"
            + (
                f"  (text {r['text_s']:.2f}, sampling {r['sampling_s']:.2f}, "
                f"decode {r['decode_s']:.2f})"
                if task == "generate"
                else ""
            )
            + f"  peak RSS {r['peak_rss_mb']:.0f} MB"
            + (f"  peak GPU memory {r['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in r else ""),
            flush=True,
        )
    doc = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "results": results,
    }
    _write_json(doc, args.json)


if __name__ == "__main__":
    main()

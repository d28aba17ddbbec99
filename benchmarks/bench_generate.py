"""End-to-end generation speed and memory: prints a table and writes JSON.

For each duration: wall time split into text encoding, sampling and decoding, x real time, and
the process's peak RSS (each case runs in a fresh subprocess so peaks do not mix). Continuation
cases measure a long left-to-right continuation (sliding causal window, then the decoded
windows written to a WAV as they come, as ``jen1 continue`` does).
When CUDA is present a GPU section repeats every case on the GPU and adds its peak memory.

    python benchmarks/bench_generate.py [--model DIR] [--seconds 10 30 60] [--continue 30 120 600]
        [--steps N] [--devices cpu cuda] [--json PATH]
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
    pipe = Pipeline.from_pretrained(args.model, device=args.device)
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
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if cuda:
        res["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        res["gpu"] = torch.cuda.get_device_name()
    print("RESULT " + json.dumps(res))


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
    p.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_task", dest="task", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_case", dest="case", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:
        _child(args)
        return
    import torch

    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    if any(d.startswith("cuda") for d in devices) and not torch.cuda.is_available():
        raise SystemExit("error: a cuda device was asked for but CUDA is not available")
    cases = [("generate", s) for s in args.seconds] + [("continue", s) for s in args.cont]
    cases = [(dev, task, sec) for dev in devices for task, sec in cases]
    results = []
    for dev, task, sec in cases:
        if dev != "cpu" and (dev, task, sec) == next(c for c in cases if c[0] == dev):
            print(f"GPU section ({dev})", flush=True)
        cmd = [sys.executable, __file__, "--_child", "--_task", task, "--_case", str(sec)]
        cmd += ["--_device", dev]
        for flag, val in (
            ("--model", args.model),
            ("--steps", args.steps),
            ("--threads", args.threads),
        ):
            if val is not None:
                cmd += [flag, str(val)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        if out.returncode != 0 or not line:
            print(out.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"case {task} {sec} s on {dev} failed")
        results.append(json.loads(line[0][7:]))
        r = results[-1]
        print(
            f"{task:<9} {sec:>6.0f} s  total {r['total_s']:7.2f} s  "
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
    import platform

    doc = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "results": results,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

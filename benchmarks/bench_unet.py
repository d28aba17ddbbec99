"""Benchmark UNet1D on the CPU: parameters, forward latency (fp32 vs bf16), a training step, FLOP/s.

Usage::

    python benchmarks/bench_unet.py --config small --json bench-results/unet.json

The forward pass is timed at the sampling shape: one CFG pair (batch 2) of a ``--seconds`` clip at
the autoencoder's latent rate, under bf16 autocast and as the pipeline runs it (weights in bf16,
prepacked for oneDNN); the sampling estimate uses the latter. Achieved GFLOP/s (FLOPs counted
by ``torch.utils.flop_counter``) is compared with a 2048^3 bf16 matmul measured in the same run,
so numbers from a busy machine stay comparable. Training steps are timed on one fixed draw of
tasks, masks and times (the multi-task step of :mod:`jen1.diffusion.train_step`), so eager and
compiled steps do the same work and a compiled step is timed on graphs it has already compiled.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from jen1.conditioning.conditions import Conditions
from jen1.config import load_config
from jen1.diffusion.packing import pack_for_inference
from jen1.diffusion.train_step import diffusion_train_step
from jen1.diffusion.unet import count_parameters
from jen1.models import build_unet
from jen1.precision import cast_matmul_weights


STAT = {"median": statistics.median, "min": min}


def time_ms(fn: Callable[[], object], repeats: int, warmup: int = 2, stat: str = "median") -> float:
    """Wall time of ``fn`` in milliseconds: median (default) or min over ``repeats`` runs.

    On a machine shared with other jobs the minimum is the better estimate of unloaded speed.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * STAT[stat](times)


def count_flops(fn: Callable[[], object]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def matmul_gflops(repeats: int, stat: str) -> float:
    """bf16 2048^3 matmul throughput (GFLOP/s), the machine's reference peak."""
    a = torch.randn(2048, 2048, dtype=torch.bfloat16)
    b = torch.randn(2048, 2048, dtype=torch.bfloat16)
    ms = time_ms(lambda: a @ b, repeats, stat=stat)
    return 2 * 2048**3 / (ms * 1e-3) / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--config", default="small", help="preset name or config JSON")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--batch", type=int, default=2, help="forward batch (2 = one CFG pair)")
    parser.add_argument("--text-tokens", type=int, default=64)
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=25, help="sampler steps for the estimate")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--stat",
        choices=sorted(STAT),
        default="median",
        help="statistic over repeats (min on a shared machine)",
    )
    parser.add_argument("--compile", action="store_true", help="add a torch.compile forward row")
    parser.add_argument(
        "--compile-train",
        action="store_true",
        help="add a torch.compile training-step row (compiling the backward takes minutes)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = load_config(args.config)
    c, d = cfg.autoencoder.latent_dim, cfg.text.dim
    frames = math.ceil(args.seconds * cfg.autoencoder.frame_rate)
    unet = build_unet(cfg).eval()
    with torch.no_grad():  # zero-initialised layers would make some kernels trivially cheap
        for p in unet.parameters():
            p.normal_(0.0, 0.02)

    b = args.batch
    x = torch.randn(b, 2 * c + 1, frames)
    t = torch.rand(b)
    cond = Conditions(
        text_emb=torch.randn(b, args.text_tokens, d),
        text_mask=torch.ones(b, args.text_tokens, dtype=torch.bool),
        known=torch.zeros(b, c, frames),
        mask=torch.zeros(b, 1, frames),
        drop_text=torch.tensor([False, True] * (b // 2) + [False] * (b % 2)),
    )
    bf16 = lambda: torch.autocast("cpu", torch.bfloat16)  # noqa: E731
    res: dict[str, object] = {
        "config": args.config,
        "unet": dict(vars(cfg.unet)),
        "params": count_parameters(unet),
        "frames": frames,
        "batch": b,
        "threads": torch.get_num_threads(),
        "stat": args.stat,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
    }
    res["matmul_bf16_gflops"] = matmul_gflops(args.repeats, args.stat)
    with torch.inference_mode():
        fwd = lambda causal: unet(x, t, cond, causal=causal)  # noqa: E731
        res["forward_gflop"] = count_flops(lambda: fwd(False)) / 1e9
        res["forward_fp32_ms"] = time_ms(lambda: fwd(False), args.repeats, stat=args.stat)
        with bf16():
            res["forward_bf16_ms"] = time_ms(lambda: fwd(False), args.repeats, stat=args.stat)
            res["forward_bf16_causal_ms"] = time_ms(lambda: fwd(True), args.repeats, stat=args.stat)
    # as jen1's pipeline runs it: conv / linear weights stored in bf16, prepacked for oneDNN
    served = cast_matmul_weights(copy.deepcopy(unet), torch.bfloat16)
    res["packed_layers"] = pack_for_inference(served)
    with torch.inference_mode(), bf16():
        res["forward_bf16_pipeline_ms"] = time_ms(
            lambda: served(x, t, cond, causal=False), args.repeats, stat=args.stat
        )
    res["forward_bf16_gflops"] = res["forward_gflop"] / (res["forward_bf16_ms"] * 1e-3)
    res["forward_bf16_vs_matmul"] = res["forward_bf16_gflops"] / res["matmul_bf16_gflops"]
    res["forward_pipeline_gflops"] = res["forward_gflop"] / (res["forward_bf16_pipeline_ms"] * 1e-3)
    res["forward_pipeline_vs_matmul"] = res["forward_pipeline_gflops"] / res["matmul_bf16_gflops"]
    res["sampling_estimate_s"] = args.steps * res["forward_bf16_pipeline_ms"] / 1e3
    res["realtime_factor"] = args.seconds / res["sampling_estimate_s"]

    unet.train()
    tb = args.train_batch
    z = torch.randn(tb, c, frames)
    emb = torch.randn(tb, args.text_tokens, d)
    tmask = torch.ones(tb, args.text_tokens, dtype=torch.bool)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-5, fused=True)
    gen = torch.Generator().manual_seed(0)

    def train_step(model: torch.nn.Module = unet, precision: str = "bf16") -> None:
        # every step draws the same tasks, masks and times: the same two sub-batches (causal,
        # bidirectional), so a compiled step reuses its graphs and its steady speed is timed
        # (a real run recompiles while new sub-batch sizes come up, see the README)
        gen.manual_seed(0)
        with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
            out = diffusion_train_step(model, z, emb, tmask, cfg.diffusion, gen)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()

    res["train_batch"] = tb
    reps = max(args.repeats // 2, 3)
    res["train_step_bf16_ms"] = time_ms(train_step, reps, warmup=1, stat=args.stat)
    res["train_step_fp32_ms"] = time_ms(
        lambda: train_step(precision="fp32"), reps, warmup=1, stat=args.stat
    )
    res["train_step_flops_gflop"] = count_flops(train_step) / 1e9
    res["train_step_bf16_gflops"] = res["train_step_flops_gflop"] / (
        res["train_step_bf16_ms"] * 1e-3
    )

    if args.compile:  # torch.compile (inductor): compile time and the compiled kernels' speed
        # for inference with freezing (weights folded in and prepacked by inductor): without
        # it the compiled forward measured 0.94x eager bf16 here
        unet.eval().requires_grad_(False)
        compiled = torch.compile(unet, options={"freezing": True})
        start = time.perf_counter()
        with torch.inference_mode(), bf16():
            compiled(x, t, cond, causal=False)
        res["compile_forward_s"] = time.perf_counter() - start
        with torch.inference_mode(), bf16():
            res["forward_bf16_compiled_ms"] = time_ms(
                lambda: compiled(x, t, cond, causal=False), args.repeats, stat=args.stat
            )
    if args.compile_train:
        unet.train().requires_grad_(True)
        compiled_train = torch.compile(unet)
        start = time.perf_counter()
        train_step(compiled_train)
        res["compile_train_s"] = time.perf_counter() - start
        res["train_step_bf16_compiled_ms"] = time_ms(
            lambda: train_step(compiled_train), reps, warmup=1, stat=args.stat
        )

    rows = [
        ("parameters", f"{res['params'] / 1e6:.2f} M"),
        (
            "shape",
            f"batch {b} x {2 * c + 1} ch x {frames} frames ({args.seconds:g} s), "
            f"S={args.text_tokens}",
        ),
        ("forward fp32", f"{res['forward_fp32_ms']:.1f} ms"),
        ("forward bf16", f"{res['forward_bf16_ms']:.1f} ms"),
        ("forward bf16 causal", f"{res['forward_bf16_causal_ms']:.1f} ms"),
        ("forward FLOPs", f"{res['forward_gflop']:.2f} GFLOP"),
        ("achieved (bf16)", f"{res['forward_bf16_gflops']:.0f} GFLOP/s"),
        ("matmul 2048^3 bf16", f"{res['matmul_bf16_gflops']:.0f} GFLOP/s"),
        ("achieved / matmul", f"{100 * res['forward_bf16_vs_matmul']:.0f} %"),
        (
            "forward as the pipeline",
            f"{res['forward_bf16_pipeline_ms']:.1f} ms (bf16 weights, {res['packed_layers']} "
            f"layers prepacked; {res['forward_pipeline_gflops']:.0f} GFLOP/s, "
            f"{100 * res['forward_pipeline_vs_matmul']:.0f} % of matmul, "
            f"{res['forward_bf16_ms'] / res['forward_bf16_pipeline_ms']:.2f}x autocast)",
        ),
        (
            f"sampling {args.steps} steps",
            f"{res['sampling_estimate_s']:.2f} s ({res['realtime_factor']:.1f}x real time)",
        ),
        (f"train step fp32 (batch {tb})", f"{res['train_step_fp32_ms']:.0f} ms"),
        (
            f"train step bf16 (batch {tb})",
            f"{res['train_step_bf16_ms']:.0f} ms ({res['train_step_bf16_gflops']:.0f} GFLOP/s, "
            f"{res['train_step_fp32_ms'] / res['train_step_bf16_ms']:.2f}x fp32)",
        ),
    ]
    if args.compile:
        rows.append(
            (
                "forward bf16 compiled",
                f"{res['forward_bf16_compiled_ms']:.1f} ms "
                f"({res['forward_bf16_ms'] / res['forward_bf16_compiled_ms']:.2f}x eager; "
                f"compile {res['compile_forward_s']:.0f} s)",
            )
        )
    if args.compile_train:
        rows += [
            (
                "train step bf16 compiled",
                f"{res['train_step_bf16_compiled_ms']:.0f} ms "
                f"({res['train_step_bf16_ms'] / res['train_step_bf16_compiled_ms']:.2f}x eager; "
                f"compile {res['compile_train_s']:.0f} s)",
            ),
        ]
    width = max(len(k) for k, _ in rows)
    print(
        f"UNet1D benchmark: config {args.config}, {res['threads']} threads, {args.stat} of "
        f"{args.repeats} runs, torch {torch.__version__}"
    )
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

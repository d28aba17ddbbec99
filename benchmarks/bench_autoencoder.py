"""Benchmark the autoencoder on CPU: encode/decode speed, peak memory, training step throughput.

Each case runs in a fresh subprocess so that its peak RSS is its own. Prints a table and, with
``--json PATH``, writes the numbers.

    python benchmarks/bench_autoencoder.py                 # small config, everything
    python benchmarks/bench_autoencoder.py --config tiny --quick --json /tmp/ae.json
    python benchmarks/bench_autoencoder.py --config small small-v2 --no-train   # side by side

With several configs, each codec case runs for every config in turn before the next case, so the
rows being compared were measured minutes apart, not a whole benchmark apart.
"""

from __future__ import annotations

import argparse
import json
import os
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _best(fn, reps: int) -> tuple[float, float]:
    """Best wall-clock seconds and the process CPU seconds of that run (after one warm-up).

    On a shared machine the wall time also counts other people's load; CPU seconds divided by
    the thread count is the wall time an idle machine would give (roughly).
    """
    fn()  # warm-up
    best = (float("inf"), float("inf"))
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        run = (time.perf_counter() - t0, time.process_time() - c0)
        best = min(best, run)
    return best


def _codec_case(config: str, seconds: float, bf16: bool, threads: int, reps: int) -> dict:
    import torch

    from jen1.models import build_autoencoder
    from jen1.config import load_config

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_config(config).autoencoder
    ae = build_autoencoder(cfg).eval()
    length = int(seconds * cfg.sample_rate)
    wav = 0.1 * torch.randn(1, cfg.audio_channels, length)
    chunked = seconds > cfg.chunk_seconds
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        enc = ae.encode_chunked if chunked else ae.encode
        z = enc(wav)
        dec = (lambda: ae.decode_chunked(z, length)) if chunked else (lambda: ae.decode(z, length))
        t_enc, c_enc = _best(lambda: enc(wav), reps)
        t_dec, c_dec = _best(dec, reps)
    return {
        "seconds": seconds,
        "dtype": "bf16" if bf16 else "fp32",
        "chunked": chunked,
        "encode_s": round(t_enc, 4),
        "decode_s": round(t_dec, 4),
        "encode_xrt": round(seconds / t_enc, 1),
        "decode_xrt": round(seconds / t_dec, 1),
        "encode_cpu_s": round(c_enc, 4),
        "decode_cpu_s": round(c_dec, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _train_case(
    config: str, batch: int, seconds: float, bf16: bool, adv: bool, threads: int, reps: int
) -> dict:
    import torch

    from jen1.autoencoder import losses as L
    from jen1.autoencoder.discriminators import MultiScaleSTFTDiscriminator
    from jen1.models import build_autoencoder
    from jen1.config import load_config

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    full = load_config(config)
    cfg, lc = full.autoencoder, full.ae_loss
    ae = build_autoencoder(cfg).train()
    disc = MultiScaleSTFTDiscriminator(lc, cfg.audio_channels)
    opt_g = torch.optim.AdamW(ae.parameters(), 1e-4)
    opt_d = torch.optim.AdamW(disc.parameters(), 1e-4)
    wav = 0.1 * torch.randn(batch, cfg.audio_channels, int(seconds * cfg.sample_rate))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = ae(wav)
            loss = L.reconstruction_losses(wav, out.recon, lc, cfg.sample_rate)["recon"]
            loss = loss + lc.kl_weight * L.kl_loss(out.mean, out.logvar)
            if adv:
                disc.requires_grad_(False)
                with torch.no_grad():
                    real = disc(wav)
                fake = disc(out.recon)
                loss = loss + lc.adv_weight * L.generator_adv_loss(fake)
                loss = loss + lc.feat_weight * L.feature_matching_loss(real, fake)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        if adv:
            disc.requires_grad_(True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                d_loss = L.discriminator_loss(disc(wav), disc(out.recon.detach()))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()

    t, cpu = _best(step, reps)
    return {
        "batch": batch,
        "seconds": seconds,
        "dtype": "bf16" if bf16 else "fp32",
        "adversarial": adv,
        "step_s": round(t, 3),
        "step_cpu_s": round(cpu, 3),
        "samples_per_s": round(batch / t, 2),
        "audio_seconds_per_s": round(batch * seconds / t, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _sizes(config: str) -> dict:
    from jen1.autoencoder.discriminators import MultiScaleSTFTDiscriminator
    from jen1.models import build_autoencoder
    from jen1.config import load_config

    full = load_config(config)
    ae = build_autoencoder(full.autoencoder)
    return {
        "encoder_params": _params(ae.encoder),
        "decoder_params": _params(ae.decoder),
        "discriminator_params": _params(MultiScaleSTFTDiscriminator(full.ae_loss)),
        "hop": ae.hop,
        "latent_dim": ae.latent_dim,
        "frame_rate": full.autoencoder.frame_rate,
    }


def _in_subprocess(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--config", nargs="+", default=["small"], help="preset names or config JSONs"
    )
    p.add_argument("--json", type=Path, default=None, help="write results here")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3, help="timed repetitions (best is kept)")
    p.add_argument("--quick", action="store_true", help="10 s codec cases and no fp32 training")
    p.add_argument("--no-train", action="store_true", help="skip the training-step cases")
    args = p.parse_args(argv)

    configs = list(args.config)
    results: dict = {
        "config": configs[0],
        "configs": {c: _sizes(c) for c in configs},
        "threads": args.threads,
        "load_average_before": list(os.getloadavg()),
        **_sizes(configs[0]),
    }
    for c, z in results["configs"].items():
        print(
            f"config {c}: encoder {z['encoder_params'] / 1e6:.2f}M, decoder "
            f"{z['decoder_params'] / 1e6:.2f}M, discriminator "
            f"{z['discriminator_params'] / 1e6:.3f}M params; hop {z['hop']}, "
            f"{z['latent_dim']} channels"
        )

    codec = []
    width = max(len(c) for c in configs)
    print(
        f"{'config':>{width}} {'audio':>7} {'dtype':>5} {'chunked':>7} {'enc s':>7} "
        f"{'enc xRT':>8} {'enc cpu':>8} {'dec s':>7} {'dec xRT':>8} {'dec cpu':>8} "
        f"{'peak RSS MB':>12}"
    )
    for seconds in (10.0,) if args.quick else (10.0, 60.0):
        for bf16 in (True, False):
            for c in configs:
                r = _in_subprocess(_codec_case, c, seconds, bf16, args.threads, args.reps)
                r["config"] = c
                codec.append(r)
                print(
                    f"{c:>{width}} {r['seconds']:>6.0f}s {r['dtype']:>5} {str(r['chunked']):>7} "
                    f"{r['encode_s']:>7.3f} {r['encode_xrt']:>8.1f} {r['encode_cpu_s']:>8.3f} "
                    f"{r['decode_s']:>7.3f} {r['decode_xrt']:>8.1f} {r['decode_cpu_s']:>8.3f} "
                    f"{r['peak_rss_mb']:>12.0f}",
                    flush=True,
                )
    results["codec"] = codec

    if not args.no_train:
        train = []
        print(
            f"\ntraining step ({configs[0]}), batch 8 x 2 s\n{'dtype':>5} {'adv':>5} {'step s':>7} "
            f"{'cpu s':>7} {'samples/s':>10} {'peak RSS MB':>12}"
        )
        for bf16 in (True,) if args.quick else (True, False):
            for adv in (False, True):
                r = _in_subprocess(
                    _train_case, configs[0], 8, 2.0, bf16, adv, args.threads, max(1, args.reps - 1)
                )
                train.append(r)
                print(
                    f"{r['dtype']:>5} {str(r['adversarial']):>5} {r['step_s']:>7.2f} "
                    f"{r['step_cpu_s']:>7.2f} {r['samples_per_s']:>10.2f} "
                    f"{r['peak_rss_mb']:>12.0f}",
                    flush=True,
                )
        results["train"] = train

    results["load_average_after"] = list(os.getloadavg())
    print(
        f"load average before/after: {results['load_average_before'][0]:.2f} / "
        f"{results['load_average_after'][0]:.2f} (other processes skew wall times)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

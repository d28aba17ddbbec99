"""Can the STFT autoencoder learn the waveform's phase? A controlled overfit: prints a table and
writes JSON.

A tiny STFT autoencoder (the tiny config's rates, hop 64, n_fft 256) overfits one clip of two
sines (440 Hz left, 660 Hz right, 8192 samples) with Adam, and the SI-SDR of its reconstruction
is read every few steps. Rows: the decoder's phase head ("scalar": one angle per bin, Vocos;
"vector": a 2-d vector whose direction is the phase) against the weight of the magnitude terms
(MR-STFT, log-mel, mid/side), the complex-STFT term at weight 1 throughout (and for "vector",
the predicted-spectrum term, ``ae_loss.spectrum_weight`` 1). The question it answers is the one
that decides the autoencoder's recipe (issue 20): which losses and which head let the phase be
learned at all.

    python benchmarks/bench_ae_phase.py [--steps 300] [--json ae_phase.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import time


def run(head: str, mag_weight: float, steps: int, every: int) -> dict:
    import torch

    from jen1.autoencoder.losses import kl_loss, reconstruction_losses, si_sdr, spectrum_loss
    from jen1.autoencoder.model import AudioAutoencoder
    from jen1.config import load_config

    cfg = load_config("tiny")
    acfg = dataclasses.replace(
        cfg.autoencoder, arch="stft", strides=(2,), stft_hop=64, n_fft=256, stft_dim=32,
        stft_mlp_ratio=2.0, stft_blocks=(1, 1), stft_phase=head,
    )  # fmt: skip
    lc = dataclasses.replace(
        cfg.ae_loss, stft_weight=mag_weight, mel_weight=mag_weight, mid_side_weight=mag_weight,
        complex_weight=1.0, spectrum_weight=1.0 if head == "vector" else 0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    ae = AudioAutoencoder(acfg)
    t = torch.arange(8192) / 48000
    wav = torch.stack(
        [0.5 * torch.sin(2 * math.pi * 440 * t), 0.3 * torch.sin(2 * math.pi * 660 * t + 1)]
    )[None]
    opt = torch.optim.Adam(ae.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    curve = {}
    t0 = time.perf_counter()
    for i in range(1, steps + 1):
        ae.train()
        out = ae(wav, generator=g)
        loss = reconstruction_losses(wav, out.recon, lc)["recon"]
        loss = loss + lc.kl_weight * kl_loss(out.mean, out.logvar)
        if lc.spectrum_weight:
            loss = loss + spectrum_loss(wav, out.spectrum, acfg.n_fft, acfg.stft_hop)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i % every == 0 or i == steps:
            with torch.no_grad():
                curve[i] = round(float(si_sdr(wav, ae.eval()(wav).recon)), 2)
    return {"head": head, "magnitude_weight": mag_weight, "si_sdr_db": curve,
            "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows = [
        run(head, w, args.steps, args.every)
        for w in (1.0, 0.1, 0.0)
        for head in ("scalar", "vector")
    ]
    steps = list(rows[0]["si_sdr_db"])
    print("SI-SDR dB of the overfit reconstruction at step:")
    print(f"{'head':<8} {'magnitude terms':>15} " + " ".join(f"{s:>7}" for s in steps))
    for r in rows:
        vals = " ".join(f"{r['si_sdr_db'][s]:7.1f}" for s in steps)
        print(f"{r['head']:<8} {r['magnitude_weight']:>15g} {vals}")
    if args.json:
        meta = {"torch": torch.__version__, "machine": platform.processor() or platform.machine(),
                "threads": args.threads}  # fmt: skip
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "meta": meta}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

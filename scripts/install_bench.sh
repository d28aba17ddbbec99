#!/usr/bin/env bash
# Benchmark-only extras: the peer U-Nets that benchmarks/bench_peers.py runs side by side with ours.
# audio-diffusion-pytorch and a-unet go in with --no-deps: their metadata pulls torchaudio (used
# only by a mel transform the U-Net does not need) and a typing-stub package; torchaudio stays out.
set -euo pipefail
python -m pip install diffusers==0.42.1
python -m pip install --no-deps audio-diffusion-pytorch==0.1.3 a-unet==0.0.16

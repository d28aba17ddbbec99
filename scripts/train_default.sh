#!/usr/bin/env bash
# The recipe that trains the shipped default model (the `small` config) on a synthesised corpus.
# (The next default's recipe, real music and the STFT autoencoder, is scripts/train_next.sh.)
# Every stage checkpoints and resumes: re-run the script and it continues where it stopped.
# Usage: bash scripts/train_default.sh [WORK_DIR] [AE_STEPS] [DIFFUSION_STEPS] [DECODER_STEPS]
set -euo pipefail
work=${1:-runs/default}
ae_steps=${2:-3283}
dif_steps=${3:-15600}
dec_steps=${4:-2647}
mkdir -p "$work"

# 1. corpus: 1000 captioned 10 s clips (about 2.8 h, 1 GB), deterministic by seed
jen1 data synth "$work/corpus" --clips 1000 --seed 0

# 2. masked autoencoder, spectral losses only (the shipped encoder was trained before the mid/side
#    term existed: mid_side_weight=0 reproduces it; stage 5 adds mid/side and the GAN)
resume=$([ -d "$work/ae-run" ] && echo --resume || true)
jen1 train autoencoder --config small --data "$work/corpus" --out "$work/ae-run" $resume \
  --max-steps "$ae_steps" \
  --set train_autoencoder.segment_seconds=0.5 --set train_autoencoder.batch_size=8 \
  --set train_autoencoder.lr=4e-4 --set train_autoencoder.warmup_steps=100 \
  --set train_autoencoder.max_steps=20000 --set train_autoencoder.ckpt_every=100 \
  --set ae_loss.disc_start_step=1000000 --set ae_loss.feat_start_step=1000000 \
  --set ae_loss.mid_side_weight=0
jen1 export "$work/ae-run" "$work/ae-model" --overwrite

# 3. latent cache (+ the latent whitening fitted on the train split)
jen1 data encode "$work/corpus" --autoencoder "$work/ae-model" --out "$work/latents" --overwrite

# 4. omnidirectional diffusion, multi-task
resume=$([ -d "$work/dif-run" ] && echo --resume || true)
jen1 train diffusion --config small --data "$work/latents" --out "$work/dif-run" $resume \
  --max-steps "$dif_steps" \
  --set train_diffusion.batch_size=16 --set train_diffusion.lr=4e-4 \
  --set train_diffusion.warmup_steps=150 --set train_diffusion.max_steps=30000 \
  --set train_diffusion.ckpt_every=100

# 5. decoder fine-tune: the encoder is frozen (so the latents and the U-Net stay valid) and the
#    decoder learns the mid/side term and the adversarial phase (from its step 200)
resume=$([ -d "$work/dec-run" ] && echo --resume || true)
jen1 train autoencoder --config small --init "$work/latents/autoencoder" --data "$work/corpus" \
  --out "$work/dec-run" $resume --max-steps "$dec_steps" \
  --set ae_loss.freeze_encoder=true --set ae_loss.mid_side_weight=1.0 \
  --set ae_loss.disc_start_step=200 --set ae_loss.feat_start_step=200 \
  --set train_autoencoder.segment_seconds=0.5 --set train_autoencoder.batch_size=8 \
  --set train_autoencoder.lr=1e-4 --set train_autoencoder.warmup_steps=50 \
  --set train_autoencoder.max_steps=6000 --set train_autoencoder.ckpt_every=100

# 6. export in bf16: the U-Net run, then the fine-tuned decoder beside it (the shipped model)
jen1 export "$work/dif-run" "$work/unet-model" --dtype bfloat16 --overwrite
jen1 export "$work/dec-run" "$work/model" --unet-from "$work/unet-model" --dtype bfloat16 --overwrite

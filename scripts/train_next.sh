#!/usr/bin/env bash
# The recipe of the next default model (v1.0, in progress): the real-music and synthetic corpora,
# the hybrid autoencoder (`small-v3`: 128 channels at 50 Hz, the low band coded exactly), then a
# U-Net with musical controls and rectified flow on its latents. Every stage checkpoints and resumes, and
# every data step skips finished work: re-run the script to continue where it stopped.
# The autoencoder trains whole for AE_STEPS, then its encoder is frozen: the U-Net trains on the
# frozen encoder's latents on one core while the decoder goes on training on the other (the
# latents stay valid), and the two are exported together.
# Usage: bash scripts/train_next.sh [WORK_DIR] [AE_STEPS] [UNET_STEPS] [DECODER_STEPS]
set -euo pipefail
work=${1:-runs/next}
ae_steps=${2:-4000}
unet_steps=${3:-60000}
dec_steps=${4:-100000}
mkdir -p "$work"
kits=(--drum-kit /usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2
      --drum-kit /usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2)

# 1. real music: the cleared Debian packages (about 29 h; 5.5 GB of .deb files, needs apt-get),
#    then what the tagger hears added to each clip's caption (instruments, tempo, a confident
#    key), the estimates becoming its control labels
[ -f "$work/real/metadata.jsonl" ] ||  # a re-run would rewrite it, enrichment lost
  jen1 data real "$work/real" --cache "$work/debs" --sources "$work/real-sources"
jen1 data caption "$work/real" --enrich

# 2. synthetic music: v0.4's corpus (seed 0), one with real drum kits and varied mixes, and the
#    labelled 10,000-clip corpus (about 28 h: exact tempo, key, meter, beats and chords)
jen1 data synth "$work/synth0" --clips 1000 --seed 0
jen1 data synth "$work/synth1" --clips 1000 --seed 1 "${kits[@]}" --vary-mix
jen1 data synth "$work/synth-v1" --clips 10000 --seed 2 "${kits[@]}" --vary-mix

# 3. one folder for the autoencoder: real train clips once, synthetic ones twice
#    (about 23 h real against 2 x 5 h synthetic of what training draws)
[ -f "$work/ae-data/metadata.jsonl" ] ||
  jen1 data mix "$work/ae-data" "$work/real" "$work/synth0:2" "$work/synth1:2"

# 4. the autoencoder (small-v3, the hybrid codec): the low band (mid to 1.2 kHz, side to 400 Hz)
#    coded exactly as MDCT coefficients in 64 of its 128 channels, the rest learnt with magnitude
#    terms and the log-mel power and band-energy terms; the KL rising from 0 between steps 2000
#    and 4000 (from step 0 it pulled the posterior to the prior); the discriminator joins at
#    step 30000 (on a CPU it costs 2.5x a step at 8 channels, 11x at 32). bf16 where it can
resume=$([ -d "$work/ae-run" ] && echo --resume || true)
nice jen1 --threads 1 train autoencoder --config small-v3 --data "$work/ae-data" \
  --out "$work/ae-run" $resume --max-steps "$ae_steps"
jen1 export "$work/ae-run" "$work/ae-model" --overwrite

# 5. against Opus on the same clips, FAD of the reconstructions included: the real test split,
#    and v0.4's synthetic test split
jen1 eval autoencoder --model "$work/ae-model" --data "$work/real" --n 48 --fad \
  --json "$work/ae-eval-real.json"
jen1 eval autoencoder --model "$work/ae-model" --data "$work/synth0" --n 48 --fad \
  --json "$work/ae-eval-synth.json"

# 6. the U-Net's corpus: the real and the labelled synthetic train clips once each, encoded
#    with the autoencoder (the control labels travel into the latent cache); the U-Net sees the
#    low band as magnitudes (a U-Net on its MDCT coefficients generated noise there), the
#    phase is rebuilt when decoding
[ -f "$work/unet-data/metadata.jsonl" ] ||
  jen1 data mix "$work/unet-data" "$work/real" "$work/synth-v1"
[ -d "$work/latents" ] ||
  jen1 data encode "$work/unet-data" --autoencoder "$work/ae-model" --out "$work/latents" \
    --lowband-view magnitude

# 7. the U-Net: v0.4's batch and learning rate (16 clips of 10 s, 4e-4), controls on,
#    rectified flow with logit-normal times, per-frame LayerNorms (unet.groups=1: 1.24x
#    faster than group norms of 8), an FAD curve in the logs; beside it,
#    on the other core, the decoder goes on training with the encoder frozen, starting from the
#    cache's copy of the autoencoder (its latent normaliser included), now with the
#    discriminator (8 channels: 2.5x a step on a CPU, 32 cost 11x): the magnitude terms alone
#    leave the learnt band above 1.2 kHz a smooth texture without harmonics
resume=$([ -d "$work/decoder-run" ] && echo --resume || true)
nice jen1 --threads 1 train autoencoder --config "$work/latents/autoencoder" \
  --init "$work/latents/autoencoder" --set ae_loss.freeze_encoder=true \
  --set ae_loss.disc_channels=8 --set ae_loss.disc_start_step=0 \
  --set ae_loss.feat_start_step=0 \
  --data "$work/ae-data" --out "$work/decoder-run" $resume --max-steps "$dec_steps" \
  --no-progress > "$work/decoder-run.log" 2>&1 &
decoder=$!
resume=$([ -d "$work/unet-run" ] && echo --resume || true)
nice jen1 --threads 1 train diffusion --config small --data "$work/latents" \
  --out "$work/unet-run" $resume --max-steps "$unet_steps" \
  --set 'unet.controls={}' --set unet.groups=1 --set diffusion.objective=flow \
  --set diffusion.schedule=flow --set diffusion.train_t=logit_normal \
  --set train_diffusion.batch_size=16 --set train_diffusion.lr=4e-4 \
  --set train_diffusion.warmup_steps=150 --set train_diffusion.max_steps=60000 \
  --set train_diffusion.ckpt_every=250 \
  --eval-every 1000 --eval-prompts "$work/synth-v1/test_prompts.jsonl" \
  --eval-reference "$work/synth-v1"
wait "$decoder"

# 8. the model: the U-Net, then the fine-tuned decoder beside it (the export checks that the
#    encoder is still the one the U-Net's latents came from)
rm -rf "$work/model/fast"  # step 9 writes the student of the model exported here again
jen1 export "$work/unet-run" "$work/unet-model" --dtype bfloat16 --overwrite
jen1 export "$work/decoder-run" "$work/model" --unet-from "$work/unet-model" --dtype bfloat16 \
  --overwrite

# 9. the few-step student (issue 24): the guidance distilled into a copy of the U-Net (one
#    network call a step instead of two), exported into the model as MODEL/fast (`--fast`)
resume=$([ -d "$work/student-run" ] && echo --resume || true)
nice jen1 --threads 1 train distill --distill-method guidance --distill-steps 8 \
  --init "$work/model" --data "$work/latents" --out "$work/student-run" $resume \
  --max-steps "${STUDENT_STEPS:-3000}" --set train_diffusion.lr=5e-5 \
  --set train_diffusion.batch_size=8 --set train_diffusion.warmup_steps=50
jen1 export "$work/student-run" "$work/model" --student --dtype bfloat16 --overwrite

#!/usr/bin/env bash
# The recipe of the next default model (v1.0, in progress): the real-music and synthetic corpora
# and the STFT autoencoder (`small-v2`: 64 channels at 50 Hz). The U-Net stage follows when the
# autoencoder meets its targets. Every stage checkpoints and resumes: re-run to continue.
# Usage: bash scripts/train_next.sh [WORK_DIR] [AE_STEPS]
set -euo pipefail
work=${1:-runs/next}
ae_steps=${2:-100000}
mkdir -p "$work"
kits=(--drum-kit /usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2
      --drum-kit /usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2)

# 1. real music: the cleared Debian packages (about 29 h; 5.5 GB of .deb files, needs apt-get)
jen1 data real "$work/real" --cache "$work/debs" --sources "$work/real-sources"

# 2. synthetic music: v0.4's corpus (seed 0), and one with real drum kits and varied mixes
jen1 data synth "$work/synth0" --clips 1000 --seed 0
jen1 data synth "$work/synth1" --clips 1000 --seed 1 "${kits[@]}" --vary-mix

# 3. one folder for the autoencoder: real train clips once, synthetic ones twice
#    (about 23 h real against 2 x 5 h synthetic of what training draws)
jen1 data mix "$work/ae-data" "$work/real" "$work/synth0:2" "$work/synth1:2"

# 4. the autoencoder: reconstruction and complex-STFT losses first (the discriminator joins at
#    step 30000), float32 on CPUs without native bf16 (precision auto)
resume=$([ -d "$work/ae-run" ] && echo --resume || true)
nice jen1 --threads 1 train autoencoder --config small-v2 --data "$work/ae-data" \
  --out "$work/ae-run" $resume --max-steps "$ae_steps"
jen1 export "$work/ae-run" "$work/ae-model" --overwrite

# 5. against Opus on the same clips: the real test split, and v0.4's synthetic test split
jen1 eval autoencoder --model "$work/ae-model" --data "$work/real" --n 48 \
  --json "$work/ae-eval-real.json"
jen1 eval autoencoder --model "$work/ae-model" --data "$work/synth0" --n 48 \
  --json "$work/ae-eval-synth.json"

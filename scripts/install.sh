#!/usr/bin/env bash
# Installs jen1 on a fresh Debian machine: soundfonts (for corpus synthesis), the pinned Python
# dependencies (torch stays at the 2.13.0 CPU build), two packages that must skip their
# unneeded dependencies, and jen1 itself (editable).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  pkgs="fluid-soundfont-gm timgm6mb-soundfont avldrums.lv2-soundfont chromium chromium-driver ffmpeg"
  if ! dpkg -s $pkgs >/dev/null 2>&1; then
    apt-get install -y --no-install-recommends $pkgs >/dev/null 2>&1 \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends $pkgs >/dev/null; }
  fi
fi
python -m pip install -q -r requirements.txt
# tinysoundfont's pyaudio dependency is for live playback only (and fails to build);
# musicnn pins an ancient numpy: both are installed without their dependencies.
python -m pip install -q --no-deps tinysoundfont==0.3.7 musicnn==0.1.0
python -m pip install -q --no-deps -e .

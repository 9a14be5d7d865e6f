#!/usr/bin/env bash
# Installs, idempotently, the Debian 12 packages thaw needs. Does nothing (and needs no network)
# when they are all present. The CUDA toolkit is not a Debian package here: it is expected under
# /usr/local/cuda and its absence only skips the CUDA targets.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libeigen3-dev libboost-dev xtensor-dev libxsimd-dev nlohmann-json3-dev
  catch2 libbenchmark-dev
  libopenblas-dev
  clang libclang-rt-14-dev          # libFuzzer + sanitizer runtimes for the fuzz targets
  python3 python3-torch python3-numpy python3-matplotlib   # parity tests, peers, plots
  zlib1g-dev
  bible-kjv-text fortunes dataset-fashion-mnist             # the corpora (data issue)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "thaw: all ${#packages[@]} Debian packages present"
  exit 0
fi

echo "thaw: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

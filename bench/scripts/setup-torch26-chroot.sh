#!/bin/sh
# Builds a Debian 13 (trixie) chroot with python3-torch 2.6 (ATen dispatch to AVX-512, oneDNN 3.x)
# so the benches' PyTorch baselines can run current PyTorch next to Debian 12's 1.13.
# Usage (as root): bench/scripts/setup-torch26-chroot.sh [DIR]   (default /work/chroot-trixie)
# Then: PYTHON="bench/scripts/chroot-python.sh DIR" dotnet run -c Release --project bench/Tessera.Bench -- sam
# Idempotent: re-running skips the steps already done. Downloads about 1 GB.
set -eu
DIR=${1:-/work/chroot-trixie}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update && apt-get install -y debootstrap
fi
if [ ! -x "$DIR/usr/bin/apt-get" ]; then
  mkdir -p "$DIR"
  debootstrap --variant=minbase trixie "$DIR" "$MIRROR"
fi
mountpoint -q "$DIR/proc" || mount -t proc proc "$DIR/proc"
mountpoint -q "$DIR/sys" || mount --rbind /sys "$DIR/sys"
mountpoint -q "$DIR/dev" || mount --rbind /dev "$DIR/dev"
cp /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true
chroot "$DIR" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update
chroot "$DIR" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  python3-torch python3-torchvision python3-numpy python3-pil python3-onnx libopenblas0-pthread
# libopenblas0-pthread: without it (--no-install-recommends) Debian's libtorch2.6 multiplies float32 with the reference
# BLAS (BLAS_INFO=generic): a 2048² product at 5.5 GFLOP/s against 158 with OpenBLAS on the project's EPYC, which made
# PyTorch 2.6's float32 SAM encoder take 371 s (issue 28, 2026-12-06). Check with torch.__config__.show() / a product.
chroot "$DIR" /usr/bin/python3 -c 'import torch; print("torch", torch.__version__, torch.backends.cpu.get_cpu_capability())'

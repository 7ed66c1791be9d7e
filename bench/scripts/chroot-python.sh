#!/bin/sh
# Runs python3 inside the chroot made by setup-torch26-chroot.sh, in the caller's working directory (the chroot
# sees /work at the same path: bind-mounted once), passing on the thread-count variables the benches set.
# Usage: chroot-python.sh DIR script.py args...   e.g. TESSERA_BENCH_PYTHON="bench/scripts/chroot-python.sh /work/chroot-trixie"
set -eu
DIR=$1; shift
mkdir -p "$DIR/work"
mountpoint -q "$DIR/work" || mount --bind /work "$DIR/work"
mountpoint -q "$DIR/proc" || mount -t proc proc "$DIR/proc"
set --  "$@"
VARS=""
for v in OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS DNNL_MAX_CPU_ISA ONEDNN_MAX_CPU_ISA ATEN_CPU_CAPABILITY; do
  eval "val=\${$v:-}"
  [ -n "$val" ] && VARS="$VARS $v=$val"
done
# shellcheck disable=SC2086
exec chroot "$DIR" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root $VARS /usr/bin/env -C "$(pwd)" /usr/bin/python3 "$@"

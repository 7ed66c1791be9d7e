#!/usr/bin/env bash
# The GCN, DeepLabV3 and HDC papers' ablations at small scale on Fashion-MNIST scenes (one seed by default;
# docs/segmentation-ablations.md used seeds 0 1 2, one thread per run: add --threads 1 and run two at a time).
# Usage: bench/scripts/seg_ablations.sh OUT_DIR [STEPS] [SEEDS...]
set -euo pipefail
out=${1:?usage: seg_ablations.sh OUT_DIR [STEPS] [SEEDS...]}
steps=${2:-400}
shift $(( $# >= 2 ? 2 : 1 ))
seeds=("${@:-0}")
cli=(dotnet "$(dirname "$0")/../../src/Tessera.Cli/bin/Release/net10.0/Tessera.Cli.dll")
run() {
  local name=$1; shift
  for seed in "${seeds[@]}"; do
    "${cli[@]}" seg train --steps "$steps" --eval-every "$steps" --seed "$seed" --out "$out/$name-s$seed" -q "$@" \
      | grep -E "^mIoU" | sed "s/^/$name seed $seed: /"
  done
}
run gcn-k3 --model gcn --k 3
run gcn-k7 --model gcn --k 7
run gcn-k11 --model gcn --k 11
run gcn-k15 --model gcn --k 15
run conv-kxk-k15 --model kxk --k 15
run stacked3x3-k15 --model stacked3x3 --k 15
run gcn-k15-no-br --model gcn --k 15 --no-br
run deeplabv3-aspp --model deeplabv3
run deeplabv3-no-aspp --model deeplabv3 --no-aspp
run deeplabv3-aspp-234 --model deeplabv3 --rates 2,3,4
run fcn-gridding-3333 --model fcn --output-stride 16 --dilations 3,3,3,3
run fcn-hdc-1245 --model fcn --output-stride 16 --dilations 1,2,4,5
run c128-deeplabv3-aspp --model deeplabv3 --canvas 128
run c128-deeplabv3-no-aspp --model deeplabv3 --no-aspp --canvas 128

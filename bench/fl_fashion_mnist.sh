#!/bin/sh
# Federated learning on Fashion-MNIST with the MNIST CNN of McMahan et al. 2017, trained on the
# virtual devices with TrainingSession (privedge simulate --model):
#   iid       100 devices, C = 0.1, E = 1, B = 10, IID, FedAvg, 30 rounds  (target >= 88%)
#   shards    the same on shards:2 (two label shards per device), 100 rounds (target >= 75%)
#   attacks   10% of the devices (about one per round, sometimes 2-3) send 50x scaled or
#             10x sign-flipped updates: FedAvg against trimmed mean (trimming 2 of 10 per
#             side) and multi-Krum (f = 3), next to the clean run (built-in linear model, or
#             the CNN with MODEL_ATTACKS=cnn)
#
#   sh bench/fl_fashion_mnist.sh [iid|shards|attacks ...]     (default: all three)
#
# Environment: BUILD (build dir, default build), OUT (JSON, logs; default bench/fl_out),
# PLOTS (PNG plots, default bench/plots), LR_IID / MOMENTUM_IID and LR_SHARDS /
# MOMENTUM_SHARDS (client SGD of the CNN runs; defaults 0.1 / 0.5 and 0.05 / 0), THREADS
# (oneDNN threads per run, default 1), ROUNDS_IID / ROUNDS_SHARDS, ROUNDS_ATTACKS. Exactly
# 10 devices train per round (--over-selection 1: no spare devices trained and discarded). The CNN (seeded random weights, opset 13, dynamic batch) is written by
# bench/train_bench_torch.py with Debian's python3 (torch, onnx). Runs nice -n 10.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/fl_out}
PLOTS=${PLOTS:-bench/plots}
LR_IID=${LR_IID:-0.1}
MOMENTUM_IID=${MOMENTUM_IID:-0.5}
LR_SHARDS=${LR_SHARDS:-0.05}
MOMENTUM_SHARDS=${MOMENTUM_SHARDS:-0}
THREADS=${THREADS:-1}
ROUNDS_IID=${ROUNDS_IID:-30}
ROUNDS_SHARDS=${ROUNDS_SHARDS:-100}
ROUNDS_ATTACKS=${ROUNDS_ATTACKS:-30}
MODEL_ATTACKS=${MODEL_ATTACKS:-linear}
PE="nice -n 10 $BUILD/privedge"
mkdir -p "$OUT" "$PLOTS"
CNN=$OUT/mnist_cnn.onnx
if [ ! -f "$CNN" ]; then
  /usr/bin/python3 bench/train_bench_torch.py --export-onnx "$CNN" --steps 1 --warmup 0 \
    --models mlp --batches 1 --threads 1 >/dev/null
fi
COMMON="--dataset fashion-mnist --clients 100 --fraction 0.1 --over-selection 1 --local-epochs 1 --batch 10"
CNN_OPTS="--model $CNN --threads $THREADS"

run() {  # name, then simulate options
  name=$1
  shift
  echo "== $name: privedge simulate $COMMON $*" >&2
  # shellcheck disable=SC2086
  $PE simulate $COMMON "$@" --json "$OUT/$name.json" --plot "$PLOTS/$name.png" \
    >"$OUT/$name.txt" 2>"$OUT/$name.log"
  tail -n 3 "$OUT/$name.txt" >&2
}

for what in ${*:-iid shards attacks}; do
  case $what in
    iid)
      # shellcheck disable=SC2086
      run fl_cnn_iid $CNN_OPTS --lr "$LR_IID" --momentum "$MOMENTUM_IID" --partition iid --rounds "$ROUNDS_IID" --strategy fedavg ;;
    shards)
      # shellcheck disable=SC2086
      run fl_cnn_shards2 $CNN_OPTS --lr "$LR_SHARDS" --momentum "$MOMENTUM_SHARDS" \
        --partition shards:2 --rounds "$ROUNDS_SHARDS" \
        --strategy fedavg ;;
    attacks)
      if [ "$MODEL_ATTACKS" = cnn ]; then
        A_OPTS="$CNN_OPTS --lr $LR_IID --momentum $MOMENTUM_IID"
        tag=cnn
      else
        A_OPTS="--lr 0.05"
        tag=linear
      fi
      # shellcheck disable=SC2086
      run "fl_${tag}_clean_fedavg" $A_OPTS --rounds "$ROUNDS_ATTACKS" --strategy fedavg
      for attack in scale:50 signflip:10; do
        for strategy in fedavg trimmedmean multikrum; do
          # shellcheck disable=SC2086
          run "fl_${tag}_${attack%:*}_${strategy}" $A_OPTS --rounds "$ROUNDS_ATTACKS" \
            --strategy "$strategy" --trim-beta 0.2 --byzantine-f 3 --byzantine 0.1 \
            --attack "${attack%:*}" --attack-scale "${attack#*:}"
        done
      done ;;
    *) echo "fl_fashion_mnist.sh: unknown run '$what' (iid, shards, attacks)" >&2; exit 2 ;;
  esac
done

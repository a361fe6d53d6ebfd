#!/bin/sh
# Accuracy vs epsilon on Fashion-MNIST: federated runs of the simulator's linear model without
# DP, and with central and distributed DP at several noise multipliers; writes the table
# (markdown, stdout) and bench/plots/dp_accuracy_vs_epsilon.png.
# usage: bench/dp_fashion_mnist.sh [PRIVEDGE] [OUT_DIR]      (from the repository root)
# Env: ROUNDS (default 30), NOISES (default "0.5 1.0 2.0"), CLIP (default 0.5), LOCAL (1: add
# local DP runs at the same noise levels).
set -eu
pe=${1:-build/privedge}
out=${2:-bench/out/dp}
rounds=${ROUNDS:-30}
noises=${NOISES:-"0.5 1.0 2.0"}
clip=${CLIP:-0.5}
mkdir -p "$out" bench/plots
# 1000 devices with 60 examples each (IID), 100 per round (q = 0.1), 1 local epoch, batch 10.
common="--clients 1000 --fraction 0.1 --rounds $rounds --local-epochs 1 --batch 10 --lr 0.05 --seed 1 --plot none"
run() {
  name=$1; shift
  echo "+ $pe simulate $common $* --json $out/$name.json" >&2
  "$pe" simulate $common "$@" --json "$out/$name.json" > "$out/$name.txt" 2> "$out/$name.err"
}
run nodp
modes="central distributed"
[ "${LOCAL:-0}" = 1 ] && modes="$modes local"
for mode in $modes; do
  for z in $noises; do
    run "${mode}_z$z" --dp "$mode" --noise-multiplier "$z" --clip "$clip"
  done
done
/usr/bin/python3 bench/dp_plot.py "$out" bench/plots/dp_accuracy_vs_epsilon.png

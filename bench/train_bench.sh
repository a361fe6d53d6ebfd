#!/bin/sh
# Training step time, privedge vs PyTorch, on the same models: the MNIST CNN and the 784-128-10
# MLP, batch 32 and 64, 1 and 2 threads. One step = forward, cross-entropy, backward, plain SGD
# update (lr 0.01, no momentum) on both sides. The two run alternately, configuration by
# configuration, for ROUNDS rounds (the order flips every round); each run reports its median
# step time and the table shows the median over rounds and the ratio PyTorch / privedge
# (> 1: privedge is faster).
#
# privedge side: `privedge train MODEL --max-steps STEPS --json` on Fashion-MNIST's t10k images
# (its median_step_ms; the step time does not depend on the values). PyTorch side:
# bench/train_bench_torch.py (warmup 10, then STEPS timed steps) with Debian's /usr/bin/python3.
# Both models are exported from the torch definitions in bench/train_bench_torch.py.
#
# usage: bench/train_bench.sh [ROUNDS]   env: PRIVEDGE (default build/privedge), STEPS (50),
#        FASHION_MNIST (default /usr/share/datasets/fashion-mnist)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
pe=${PRIVEDGE:-$src/build/privedge}
data=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
rounds=${1:-3}
steps=${STEPS:-50}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

/usr/bin/python3 "$src/bench/train_bench_torch.py" --export-onnx "$tmp/cnn.onnx" \
  --models mlp --batches 1 --threads 1 --steps 1 --warmup 0 > /dev/null
/usr/bin/python3 - "$src/bench" "$tmp/mlp.onnx" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import torch
from train_bench_torch import Mlp
torch.manual_seed(0)
torch.onnx.export(Mlp().eval(), torch.randn(2, 784), sys.argv[2], opset_version=13,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
PY

run_privedge() {  # model batch threads
  "$pe" train "$tmp/$1.onnx" --data "$data/t10k-images-idx3-ubyte.gz" \
    --labels "$data/t10k-labels-idx1-ubyte.gz" --batch "$2" --threads "$3" --lr 0.01 \
    --momentum 0 --max-steps $((steps + 10)) --json |
    sed -n 's/.*"median_step_ms": \([0-9.]*\).*/privedge '"$1 $2 $3"' \1/p' >> "$tmp/times"
}
run_torch() {
  /usr/bin/python3 "$src/bench/train_bench_torch.py" --models "$1" --batches "$2" \
    --threads "$3" --steps "$steps" --warmup 10 |
    sed -n 's/.*"median_ms": \([0-9.]*\).*/torch '"$1 $2 $3"' \1/p' >> "$tmp/times"
}

r=1
while [ "$r" -le "$rounds" ]; do
  for model in cnn mlp; do
    for batch in 32 64; do
      for threads in 1 2; do
        if [ $((r % 2)) -eq 1 ]; then
          run_privedge $model $batch $threads
          run_torch $model $batch $threads
        else
          run_torch $model $batch $threads
          run_privedge $model $batch $threads
        fi
      done
    done
  done
  echo "round $r of $rounds done" >&2
  r=$((r + 1))
done

uptime
/usr/bin/python3 - "$tmp/times" "$rounds" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    side, model, batch, threads, ms = line.split()
    times.setdefault((model, int(batch), int(threads), side), []).append(float(ms))
print(f"median step time (ms) over {sys.argv[2]} alternated rounds")
print("| model | batch | threads | privedge | PyTorch | PyTorch / privedge |")
print("|---|---|---|---|---|---|")
for model in ("cnn", "mlp"):
    for batch in (32, 64):
        for threads in (1, 2):
            p = times.get((model, batch, threads, "privedge"), [])
            t = times.get((model, batch, threads, "torch"), [])
            if not p or not t:
                sys.exit(f"missing runs for {model} batch {batch} threads {threads}")
            pm, tm = statistics.median(p), statistics.median(t)
            print(f"| {model} | {batch} | {threads} | {pm:.2f} | {tm:.2f} | {tm / pm:.2f} |")
PY

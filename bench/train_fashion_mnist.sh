#!/bin/sh
# The MNIST CNN (conv5x5x32, pool, conv5x5x64, pool, fc512, fc10) trained on Fashion-MNIST by
# `privedge train` for 5 epochs, then evaluated by `privedge eval`; prints the per-epoch table.
# The model (seeded random weights) comes from bench/train_bench_torch.py --export-onnx, run
# with Debian's /usr/bin/python3 (torch, onnx); the data from Debian's dataset-fashion-mnist.
#
# usage: bench/train_fashion_mnist.sh [OUT_DIR]
#   env: PRIVEDGE (default build/privedge), THREADS (default 1), SEED (default 1),
#        FASHION_MNIST (default /usr/share/datasets/fashion-mnist)
# About 10 minutes on one thread of the 2-core development machine.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
pe=${PRIVEDGE:-$src/build/privedge}
data=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
threads=${THREADS:-1}
seed=${SEED:-1}
out=${1:-$(mktemp -d)}
mkdir -p "$out"

# The export also times one tiny MLP step (the script always benchmarks); its output is dropped.
/usr/bin/python3 "$src/bench/train_bench_torch.py" --export-onnx "$out/mnist_cnn.onnx" \
  --models mlp --batches 1 --threads 1 --steps 1 --warmup 0 > /dev/null

set -x
"$pe" train "$out/mnist_cnn.onnx" \
  --data "$data/train-images-idx3-ubyte.gz" --labels "$data/train-labels-idx1-ubyte.gz" \
  --test-data "$data/t10k-images-idx3-ubyte.gz" --test-labels "$data/t10k-labels-idx1-ubyte.gz" \
  --loss cross-entropy --epochs 5 --batch 64 --optimizer sgd --momentum 0.9 \
  --lr-schedule 0.05,0.05,0.02,0.01,0.005 --seed "$seed" --threads "$threads" \
  --out "$out/trained.onnx" --json > "$out/epochs.jsonl"
"$pe" eval "$out/trained.onnx" \
  --data "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
  --json > "$out/eval.json"
set +x

/usr/bin/python3 - "$out/epochs.jsonl" "$out/eval.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
final = json.load(open(sys.argv[2]))
print("| epoch | lr | train loss | train accuracy | test accuracy | examples/s | median step (ms) |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['epoch']} | {r['lr']:g} | {r['loss']:.4f} | {100 * r['accuracy']:.2f}% | "
          f"{100 * r['test_accuracy']:.2f}% | {r['examples_per_s']:.0f} | {r['median_step_ms']:.1f} |")
print(f"\nprivedge eval trained.onnx on t10k: loss {final['loss']:.4f}, "
      f"accuracy {100 * final['accuracy']:.2f}% ({final['examples']} examples)")
PY

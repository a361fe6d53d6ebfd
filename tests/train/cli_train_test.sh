#!/bin/sh
# End-to-end checks of privedge train and privedge eval on a tiny separable problem
# (tests/data/train/tiny*, from tools/torch_train_reference.py).
# usage: cli_train_test.sh PRIVEDGE SOURCE_DIR
set -u
pe=$1 src=$2
d=$src/tests/data/train
. "$src/tests/cli/lib.sh"

# Untrained (zero weights): loss ln 3. Trained: separable data, all correct.
expect_output "eval before" "loss 1.0986" $pe eval $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy
expect_output "train" "epoch 30:" $pe train $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy \
  --epochs 30 --batch 8 --lr 0.1 --out "$tmp/trained.onnx" --delta "$tmp/delta.npy"
[ -s "$tmp/delta.npy" ] || fail "train did not write the delta"
expect_output "eval after" "accuracy 1.0000" $pe eval "$tmp/trained.onnx" --data $d/tiny_x.npy \
  --labels $d/tiny_y.npy
expect_output "train json adam" '"epoch": 2' $pe train $d/tiny.onnx --data $d/tiny_x.npy \
  --labels $d/tiny_y.npy --epochs 2 --optimizer adam --lr 0.01 --json
# The trained model also runs on the inference engine.
$pe run "$tmp/trained.onnx" $d/tiny_x.npy --output-dir "$tmp/run" > /dev/null || fail "run trained model"
[ -f "$tmp/run/logits.npy" ] || fail "run of the trained model wrote no logits"

expect_error "no data" "--data and --labels are required" $pe train $d/tiny.onnx
expect_error "labels mismatch" "same number" $pe train $d/tiny.onnx --data $d/tiny_x.npy \
  --labels $src/tests/data/models/lstm.ref.npy
expect_error "bad optimizer" "--optimizer" $pe train $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy \
  --optimizer rmsprop
expect_error "bad loss" "--loss" $pe eval $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy --loss hinge
expect_error "bad lr" "--lr" $pe train $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy --lr -1
expect_error "float labels for cross-entropy" "labels" $pe train $d/tiny.onnx --data $d/tiny_x.npy \
  --labels $d/tiny_x.npy --loss cross-entropy
expect_error "untrainable model" "LSTM" $pe train $src/tests/data/models/lstm.onnx --data $d/tiny_x.npy \
  --labels $d/tiny_y.npy
expect_error "missing model" "cannot open" $pe eval "$tmp/none.onnx" --data $d/tiny_x.npy --labels $d/tiny_y.npy
finish "train/eval CLI"

#!/bin/sh
# The demo behind `make demo`: inspect and run a real model (a MobileNetV2 exported from
# PyTorch), then check its output against the float64 reference computed by PyTorch.
set -eu
build=${1:-build}
pe="$build/privedge"
models=tests/data/models
model=$models/mobilenet_v2_w035.onnx

echo "== privedge inspect $model"
"$pe" inspect "$model" | head -20
echo
echo "== privedge run $model $models/mobilenet_v2_w035.input.npy --output-dir $build/demo-out"
"$pe" run "$model" "$models/mobilenet_v2_w035.input.npy" --output-dir "$build/demo-out"
echo
echo "== the same model on a slice of the ONNX conformance suite"
"$pe" conformance /usr/share/libonnx-testdata/data/pytorch-converted --quiet

#!/bin/sh
# The demo behind `make demo`: private machine learning end to end on this device.
#  1. a short federated run: 100 virtual devices train on Fashion-MNIST, data never pooled;
#  2. a real model (a MobileNetV2 exported from PyTorch) protected for this device: encrypted
#     with a device-bound key, signed by its publisher, then run from locked memory;
#  3. the engine on a slice of the ONNX conformance suite.
# Everything the demo writes (keys included) stays under $build/demo.
set -eu
build=${1:-build}
pe="$build/privedge"
models=tests/data/models
model=$models/mobilenet_v2_w035.onnx
work="$build/demo"
rm -rf "$work"
mkdir -p "$work"
export PRIVEDGE_HOME="$work/home"

echo "== federated learning: 100 devices, 10 per round, Fashion-MNIST, FedAvg"
"$pe" simulate --clients 100 --fraction 0.1 --rounds 10 --partition iid --strategy fedavg \
  --plot "$work/accuracy.png"
echo "(accuracy plot: $work/accuracy.png)"
echo
echo "== protect a model: device key, publisher key, encrypted and signed container"
"$pe" keys init --keystore software
"$pe" keys publisher "$work/publisher"
"$pe" convert "$model" "$work/model.pmc" --encrypt --sign "$work/publisher.key"
echo
echo "== run it: signature checked, decrypted into locked memory, nothing written to disk"
"$pe" run "$work/model.pmc" "$models/mobilenet_v2_w035.input.npy" \
  --require-signed "$work/publisher.pub" --output-dir "$work/out"
echo
echo "== the engine on a slice of the ONNX conformance suite"
"$pe" conformance /usr/share/libonnx-testdata/data/pytorch-converted --quiet

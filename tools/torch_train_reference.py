#!/usr/bin/python3
"""Reference training trajectories from PyTorch for tests/train/pytorch_trajectory_test.cc.

Builds the MLP (784-128-10, ReLU) and the MNIST CNN (conv5x5x32 pad 2, ReLU, maxpool 2,
conv5x5x64 pad 2, ReLU, maxpool 2, fc512, ReLU, fc10), sets their initial weights from a
counter-based generator that the C++ test reproduces bit for bit, trains each for 20 SGD steps
(momentum 0.9) and 20 Adam steps on synthetic batches from the same generator, and writes:

  tests/data/train/<model>.onnx       opset 13, input "input", output "logits"; every
                                      initializer stored as external data in
                                      <model>.weights.bin, which is NOT committed: the test
                                      writes it from the generator (the CNN's weights alone
                                      are 6.6 MB)
  tests/data/train/tiny.onnx, tiny_x.npy, tiny_y.npy
                                      a 4-to-3 linear classifier (zero weights) and 60
                                      separable examples, for the train/eval CLI test
  tests/data/train/trajectories.txt   one line per run: model optimizer lr loss_0 ... loss_19,
                                      then final-weight checks: model optimizer name sum sumsq

Usage: /usr/bin/python3 tools/torch_train_reference.py [out_dir]
Needs Debian's python3-torch and python3-onnx; never needed to build or test.
"""
import os
import sys

import numpy as np
import onnx
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import MnistCnn, Mlp  # noqa: E402

BATCH = 8
STEPS = 20
MASK64 = (1 << 64) - 1


def splitmix(seed, n):
    """Uniform floats in [0, 1) with 24 bits: u_i = splitmix64(seed + i) >> 40 / 2^24."""
    x = (np.uint64(seed & MASK64) + np.arange(n, dtype=np.uint64))
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def fnv1a(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def init_values(name, shape):
    """(2u - 1) * scale, scale = 1/sqrt(fan_in) for weights and 0.1 for rank-1 tensors."""
    n = int(np.prod(shape))
    u = splitmix(fnv1a(name), n)
    if len(shape) >= 2:
        scale = np.float32(1.0) / np.sqrt(np.float32(n // shape[0]))
    else:
        scale = np.float32(0.1)
    return (np.float32(2.0) * u.astype(np.float32) - np.float32(1.0)) * scale


def batch(model, step):
    """Learnable synthetic data: x = 0.5 * noise + 0.5 * pattern[label], patterns binary."""
    y = (splitmix(5000 + step, BATCH) * 10).astype(np.int64)
    noise = splitmix(1000 + step, BATCH * 784).astype(np.float32).reshape(BATCH, 784)
    patterns = np.stack([(splitmix(777 + c, 784) > 0.5).astype(np.float32) for c in range(10)])
    x = np.float32(0.5) * noise + np.float32(0.5) * patterns[y]
    shape = (BATCH, 784) if model == "mlp" else (BATCH, 1, 28, 28)
    return torch.from_numpy(x.reshape(shape)), torch.from_numpy(y)


def make(model):
    net = Mlp() if model == "mlp" else MnistCnn()
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.from_numpy(init_values(name, tuple(p.shape)).reshape(p.shape)))
    return net


def export(model, out_dir):
    net = make(model)
    x, _ = batch(model, 0)
    path = os.path.join(out_dir, model + ".onnx")
    torch.onnx.export(net, x, path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}},
                      do_constant_folding=False)
    proto = onnx.load(path)
    location = model + ".weights.bin"
    onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)
    os.remove(os.path.join(out_dir, location))


def train(model, optimizer):
    torch.manual_seed(0)
    net = make(model)
    if optimizer == "sgd":
        lr = 0.05
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    else:
        lr = 0.001
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for step in range(STEPS):
        x, y = batch(model, step)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    finals = []
    for name, p in net.named_parameters():
        v = p.detach().double()
        finals.append((name, v.sum().item(), (v * v).sum().item()))
    return lr, losses, finals


def tiny(out_dir):
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.zero_()
    y = (splitmix(42, 60) * 3).astype(np.int64)
    centers = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype=np.float32)
    noise = splitmix(43, 240).astype(np.float32).reshape(60, 4) - np.float32(0.5)
    x = centers[y] + noise
    np.save(os.path.join(out_dir, "tiny_x.npy"), x)
    np.save(os.path.join(out_dir, "tiny_y.npy"), y)
    torch.onnx.export(net, torch.from_numpy(x[:2]), os.path.join(out_dir, "tiny.onnx"),
                      opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}})


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "train")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    tiny(out_dir)
    lines = []
    for model in ("mlp", "cnn"):
        export(model, out_dir)
        for optimizer in ("sgd", "adam"):
            lr, losses, finals = train(model, optimizer)
            lines.append(" ".join([model, optimizer, repr(lr)] + ["%.9g" % l for l in losses]))
            for name, s, s2 in finals:
                lines.append("final %s %s %s %.9g %.9g" % (model, optimizer, name, s, s2))
    with open(os.path.join(out_dir, "trajectories.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Generates the full-size benchmark models with float64 reference outputs.

Run with Debian's python (torch 1.13, torchvision 0.14, onnx 1.12, numpy); the pyenv python3
first on PATH has no torch:

    /usr/bin/python3 bench/gen_models.py [--out bench/models] [--force] [--only NAME ...]

For every model this writes, into bench/models/ (ignored by git, see bench/.gitignore):

    <name>.onnx       the float32 module in eval mode, exported with torch.onnx.export
                      (opset 13, constant folding on, static shapes, batch 1; input "input",
                      output "output")
    <name>.input.npy  the float32 input, N(0, 1) noise
    <name>.ref.npy    the reference output: the same module converted with .double() and run
                      on the input converted to float64 (saved as float64)

and MANIFEST.txt (shapes, operators, sha256 and size of every file). Weights are random with
fixed seeds and initialised as in tools/gen_test_models.py (whose helpers this imports): every
BatchNorm gets random affine parameters and real running statistics, measured on random
batches and then slightly perturbed (calibrate_batchnorm); the models are exported in eval
mode. Reruns give identical files.

A model whose three files already exist is skipped, so the script is idempotent; --force
regenerates. Files are written under a temporary name and renamed, so an interrupted run never
leaves a half-written model that a later run would skip.

Checks (the script exits non-zero if one fails): the reference is finite with
1e-3 < max|ref| < 1e4; onnx.checker passes and every node is in the default domain. It also
reports the float32 torch output's error against the float64 reference (what an exact float32
engine can be expected to reach; warns if above the 1e-4 the accuracy check uses) and, when
every operator of the graph is covered by the float64 NumPy interpreter of
tools/gen_test_models.py, the error of that interpreter running the exported graph (shows the
export is faithful).
"""

import argparse
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import gen_test_models as gtm  # noqa: E402  (calibrate_batchnorm, make_lstm, run_onnx_float64)
from torch_models import MnistCnn  # noqa: E402

OPSET = gtm.OPSET          # 13
SEED = gtm.SEED
TOLERANCE = 1e-4
TRANSFORMER_FFN = 2048     # nn.TransformerEncoderLayer's default dim_feedforward

torch.set_num_threads(2)


# ---------------------------------------------------------------------------------------------
# Models. Each factory returns (module, input tensor); both deterministic.


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def image_batch(size=224):
    return lambda: torch.randn(8, 3, size, size)


def calibrate_batchnorm(model, make_batch, steps=4):
    """gen_test_models.calibrate_batchnorm, then the running statistics measured again.

    The helper measures the statistics before it randomises gamma/beta, so every BatchNorm's
    statistics describe its input under the *old* (1, 0) affine parameters upstream. That is
    harmless in shallow or ReLU6-bounded nets but compounds in deep unbounded ones
    (EfficientNet-B0's SiLU blocks reach ~5e4). Its nudge of the means, 0.05 * N(0, 1) in
    absolute terms, also shifts channels of tiny variance by many standard deviations. So the
    statistics are measured again with the final affine parameters (StochasticDepth off, as in
    eval), then nudged relative to each channel's spread: mean += 0.05 * std * N(0, 1),
    var *= U(0.8, 1.2).
    """
    gtm.calibrate_batchnorm(model, make_batch, steps)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    depth = [m for m in model.modules() if isinstance(m, torchvision.ops.StochasticDepth)]
    saved_p = [m.p for m in depth]
    for m in depth:
        m.p = 0.0
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(make_batch())
    g = torch.Generator().manual_seed(SEED + 3)
    with torch.no_grad():
        for bn in bns:
            c = bn.num_features
            std = bn.running_var.sqrt()
            bn.running_mean.add_(0.05 * std * torch.randn(c, generator=g))
            bn.running_var.mul_(0.8 + 0.4 * torch.rand(c, generator=g))
            bn.momentum = 0.1
    for m, p in zip(depth, saved_p):
        m.p = p
    model.eval()


def widen_head(layer):
    """torchvision's N(0, 0.01) classifier init gives ~1e-2 logits; use a larger one."""
    nn.init.normal_(layer.weight, 0.0, 0.05)
    nn.init.uniform_(layer.bias, -0.1, 0.1)


def make_mobilenet_v2():
    torch.manual_seed(SEED)
    model = torchvision.models.mobilenet_v2(weights=None)
    widen_head(model.classifier[1])
    calibrate_batchnorm(model, image_batch())
    return model, randn(1, 3, 224, 224, seed=201)


def make_resnet18():
    torch.manual_seed(SEED)
    model = torchvision.models.resnet18(weights=None)
    calibrate_batchnorm(model, image_batch())
    return model, randn(1, 3, 224, 224, seed=202)


def make_squeezenet1_1():
    torch.manual_seed(SEED)
    model = torchvision.models.squeezenet1_1(weights=None)  # no BatchNorm
    widen_head(model.classifier[1])  # the final 1x1 conv
    model.eval()
    return model, randn(1, 3, 224, 224, seed=203)


def make_shufflenet_v2_x1_0():
    torch.manual_seed(SEED)
    model = torchvision.models.shufflenet_v2_x1_0(weights=None)
    calibrate_batchnorm(model, image_batch())
    return model, randn(1, 3, 224, 224, seed=204)


def make_efficientnet_b0():
    torch.manual_seed(SEED)
    model = torchvision.models.efficientnet_b0(weights=None)
    widen_head(model.classifier[1])
    calibrate_batchnorm(model, image_batch())
    return model, randn(1, 3, 224, 224, seed=205)


def make_transformer_encoder():
    # The test model's construction (gen_test_models.py), at the benchmark's head count and width.
    model = gtm.make_transformer_encoder(nhead=2, dim_feedforward=TRANSFORMER_FFN)
    return model, randn(1, 128, 128, seed=206)


class LstmOnly(nn.Module):
    """nn.LSTM(64, 128, num_layers=2, batch_first=True); output: the top layer's h, [1,50,128]."""

    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm

    def forward(self, x):
        y, _ = self.lstm(x)
        return y


def make_lstm():
    # The LSTM of the test model (forget-gate bias +1, wider input weights), without its head.
    model = LstmOnly(gtm.make_lstm().lstm)
    model.eval()
    return model, randn(1, 50, 64, seed=207)


def make_mlp():
    torch.manual_seed(SEED)
    model = nn.Sequential(nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(),
                          nn.Linear(200, 10))
    model.eval()
    return model, randn(1, 784, seed=208)


def make_mnist_cnn():
    torch.manual_seed(SEED)
    model = MnistCnn()
    assert sum(p.numel() for p in model.parameters()) == MnistCnn.NUM_PARAMS
    model.eval()
    return model, randn(1, 1, 28, 28, seed=209)


MODELS = [
    ("mobilenet_v2", make_mobilenet_v2),
    ("resnet18", make_resnet18),
    ("squeezenet1_1", make_squeezenet1_1),
    ("shufflenet_v2_x1_0", make_shufflenet_v2_x1_0),
    ("efficientnet_b0", make_efficientnet_b0),
    ("transformer_encoder", make_transformer_encoder),
    ("lstm", make_lstm),
    ("mlp", make_mlp),
    ("mnist_cnn", make_mnist_cnn),
]


# ---------------------------------------------------------------------------------------------
# Export


def files_of(name):
    return [name + ".onnx", name + ".input.npy", name + ".ref.npy"]


def save_npy(path, array):
    tmp = path + ".tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def generate(name, factory, out_dir):
    """Builds, exports and checks one model; returns a one-line summary."""
    model, x = factory()
    model.eval()
    onnx_path = os.path.join(out_dir, name + ".onnx")
    with torch.no_grad():
        y32 = model(x).detach().numpy().astype(np.float64)
    tmp = onnx_path + ".tmp"
    # Grad stays enabled while tracing (keeps MultiheadAttention off its fast path).
    torch.onnx.export(model, (x,), tmp, opset_version=OPSET, do_constant_folding=True,
                      input_names=["input"], output_names=["output"], export_params=True)
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    nonstd = sorted({n.domain for n in m.graph.node if n.domain not in ("", "ai.onnx")})
    if nonstd:
        sys.exit(f"{name}: nodes outside the default domain: {nonstd}")

    m64 = model.double().eval()
    with torch.no_grad():
        ref = m64(x.double()).detach().numpy().astype(np.float64)
    model.float()
    scale = float(np.max(np.abs(ref)))
    if not np.isfinite(ref).all() or not 1e-3 < scale < 1e4:
        sys.exit(f"{name}: reference out of a sensible range (max|ref| = {scale})")
    f32_rel = float(np.max(np.abs(y32 - ref))) / scale

    try:
        (y_np,) = gtm.run_onnx_float64(tmp, {"input": x.numpy()})
        np_rel = f"{float(np.max(np.abs(y_np - ref))) / scale:.1e}"
    except NotImplementedError as e:
        np_rel = f"n/a ({str(e).split(' ')[-1]} not in the NumPy interpreter)"
    except AssertionError:  # an attribute the interpreter does not handle (MaxPool ceil_mode)
        np_rel = "n/a (an attribute the NumPy interpreter does not handle)"

    save_npy(os.path.join(out_dir, name + ".input.npy"), x.numpy().astype(np.float32))
    os.replace(tmp, onnx_path)
    save_npy(os.path.join(out_dir, name + ".ref.npy"), ref)  # last: marks the model complete

    params = sum(p.numel() for p in model.parameters())
    ops = sorted({n.op_type for n in m.graph.node})
    warn = "  WARNING: float32 torch itself is above 1e-4" if f32_rel > TOLERANCE else ""
    return (f"in {list(x.shape)} out {list(ref.shape)}, {params / 1e6:.2f}M params, "
            f"{len(m.graph.node)} nodes, max|ref| {scale:.3g}, torch-f32 rel err {f32_rel:.1e}, "
            f"ONNX graph (NumPy f64) rel err {np_rel}{warn}\n      ops: {' '.join(ops)}")


def write_manifest(out_dir):
    lines = ["# privedge benchmark models. Generated by bench/gen_models.py",
             f"# torch {torch.__version__}, torchvision {torchvision.__version__}, "
             f"onnx {onnx.__version__}, opset {OPSET}",
             "# name input_shape output_shape nodes operators", ]
    rows = []
    for name, _ in MODELS:
        if not all(os.path.exists(os.path.join(out_dir, f)) for f in files_of(name)):
            continue
        m = onnx.load(os.path.join(out_dir, name + ".onnx"), load_external_data=False)
        xin = np.load(os.path.join(out_dir, name + ".input.npy"), mmap_mode="r")
        ref = np.load(os.path.join(out_dir, name + ".ref.npy"), mmap_mode="r")
        ops = " ".join(sorted({n.op_type for n in m.graph.node}))
        lines.append(f"# {name} {list(xin.shape)} {list(ref.shape)} {len(m.graph.node)} {ops}")
        rows.extend(files_of(name))
    lines.append("# sha256 size_bytes file")
    for f in rows:
        p = os.path.join(out_dir, f)
        lines.append(f"{gtm.sha256(p)} {os.path.getsize(p)} {f}")
    with open(os.path.join(out_dir, "MANIFEST.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return sum(os.path.getsize(os.path.join(out_dir, f)) for f in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "models"))
    ap.add_argument("--force", action="store_true", help="regenerate existing models")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=[n for n, _ in MODELS],
                    help="generate only these models")
    args = ap.parse_args()
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)

    todo = [(n, f) for n, f in MODELS if not args.only or n in args.only]
    for i, (name, factory) in enumerate(todo, 1):
        prefix = f"[{i}/{len(todo)}] {name}:"
        if not args.force and all(os.path.exists(os.path.join(out_dir, f))
                                  for f in files_of(name)):
            print(f"{prefix} exists, skipped (--force regenerates)", flush=True)
            continue
        print(f"{prefix} generating ...", flush=True)
        t0 = time.time()
        summary = generate(name, factory, out_dir)
        size = os.path.getsize(os.path.join(out_dir, name + ".onnx"))
        print(f"{prefix} done in {time.time() - t0:.1f} s, .onnx {size / 1e6:.1f} MB, {summary}",
              flush=True)
    total = write_manifest(out_dir)
    print(f"wrote {out_dir}/MANIFEST.txt; model files total {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

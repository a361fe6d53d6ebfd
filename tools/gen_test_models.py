#!/usr/bin/python3
"""Generates the PyTorch-exported test models with float64 reference outputs.

Run with Debian's python (torch 1.13, torchvision 0.14, onnx 1.12, numpy):

    /usr/bin/python3 tools/gen_test_models.py [--out tests/data/models] [--mobilenet-size 224]

For every model this writes, into the output folder:

    <name>.onnx       the float32 module exported with torch.onnx.export (opset 13,
                      constant folding on, a dynamic "batch" input dimension and, for the
                      sequence models, a dynamic "seq" dimension)
    <name>.input.npy  the float32 input (batch 1)
    <name>.ref.npy    the reference output: the same module converted to float64 and run on
                      the input converted to float64 (saved as float64)

and MANIFEST.txt with the name, input/output names and shapes, and the sha256 of every file.

The weights are random but deterministic (fixed seeds) and initialised so that activations
stay O(1) through the network. BatchNorm layers are calibrated on random data (their running
statistics are real batch statistics, not 0/1) and then given random affine parameters, and
the models are exported in eval mode.

The script also checks that the float32 torch output is within 1e-4 (relative to max|ref|) of
the float64 reference, so the tolerance the C++ test uses is known to be achievable.
"""

import argparse
import hashlib
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision

OPSET = 13
TOLERANCE = 1e-4
SEED = 20261124

torch.set_num_threads(2)


# ---------------------------------------------------------------------------------------------
# Initialisation helpers


def calibrate_batchnorm(model, make_batch, steps=4):
    """Gives every BatchNorm layer real running statistics, then random affine parameters.

    The running mean/var are computed from forward passes in train mode over random batches
    (momentum=None: a cumulative average), so in eval mode each BN roughly normalises its
    input; the random gamma/beta then make the layers non-trivial.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(make_batch())
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for bn in bns:
            c = bn.num_features
            bn.weight.copy_(0.5 + torch.rand(c, generator=g))           # [0.5, 1.5)
            bn.bias.copy_(0.2 * torch.randn(c, generator=g))
            # Nudge the statistics so they are not exactly the batch statistics either.
            bn.running_mean.add_(0.05 * torch.randn(c, generator=g))
            bn.running_var.mul_(0.8 + 0.4 * torch.rand(c, generator=g))
            bn.momentum = 0.1
    model.eval()


# ---------------------------------------------------------------------------------------------
# Models


def make_mobilenet_v2(size):
    torch.manual_seed(SEED)
    # torchvision's own init: kaiming-normal convs, N(0, 0.01) classifier.
    model = torchvision.models.mobilenet_v2(weights=None, width_mult=0.35)
    # A slightly larger classifier init so the logits are not ~1e-2.
    nn.init.normal_(model.classifier[1].weight, 0.0, 0.05)
    nn.init.uniform_(model.classifier[1].bias, -0.1, 0.1)
    calibrate_batchnorm(model, lambda: torch.randn(8, 3, size, size))
    return model


class ResNet18TwoStages(nn.Module):
    """torchvision resnet18 up to and including layer2 (output 1x128x28x28 at 224 px)."""

    def __init__(self):
        super().__init__()
        r = torchvision.models.resnet18(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = r.conv1, r.bn1, r.relu, r.maxpool
        self.layer1, self.layer2 = r.layer1, r.layer2

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer2(self.layer1(x))


def make_resnet18_2stages(size):
    torch.manual_seed(SEED)
    model = ResNet18TwoStages()
    calibrate_batchnorm(model, lambda: torch.randn(8, 3, size, size))
    return model


def make_transformer_encoder(nhead=4, dim_feedforward=256):
    torch.manual_seed(SEED)
    layer = nn.TransformerEncoderLayer(d_model=128, nhead=nhead, dim_feedforward=dim_feedforward,
                                       dropout=0.0, activation="relu", batch_first=True,
                                       norm_first=False)
    model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    # Random, non-trivial LayerNorm affine parameters.
    g = torch.Generator().manual_seed(SEED + 2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.copy_(0.05 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, nn.MultiheadAttention):
                m.in_proj_bias.copy_(0.05 * torch.randn(m.in_proj_bias.shape, generator=g))
    # Keep torch 1.13 off its fused "fast path" (aten::_transformer_encoder_layer_fwd /
    # _native_multi_head_attention), which the ONNX exporter cannot export: a value of 0
    # makes TransformerEncoderLayer.forward take the plain Python path. Exports also run with
    # grad enabled and parameters requiring grad, which disables the fast path in MHA too.
    for m in model.modules():
        if isinstance(m, nn.TransformerEncoderLayer):
            m.activation_relu_or_gelu = 0
    model.eval()
    return model


class LstmWithHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(64, 128, num_layers=2, batch_first=True)
        self.head = nn.Linear(128, 16)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(y)  # a prediction per time step: [batch, seq, 16]


def make_lstm():
    torch.manual_seed(SEED)
    model = LstmWithHead()
    # PyTorch's default LSTM init is U(-1/sqrt(h), 1/sqrt(h)) = U(-0.088, 0.088), which keeps
    # the gates near 0.5 and the states small but non-zero; make the forget gate bias +1
    # (the common practice) so the state carries information along the sequence.
    with torch.no_grad():
        for name, p in model.lstm.named_parameters():
            if name.startswith("bias_ih"):
                p[128:256].add_(1.0)
            elif name.startswith("weight_ih"):
                p.mul_(2.0)  # wider gate pre-activations: states use more of (-1, 1)
        nn.init.normal_(model.head.weight, 0.0, 0.25)
        nn.init.uniform_(model.head.bias, -0.1, 0.1)
    model.eval()
    return model



# ---------------------------------------------------------------------------------------------
# An independent check of the exported graphs: a small float64 NumPy interpreter for exactly
# the operators these exports use (onnx 1.12 has no reference evaluator and onnxruntime is not
# available here). Running each .onnx through it must reproduce the float64 reference to
# within float32 weight rounding (constant folding fuses BatchNorm into Conv in float32), which
# shows the export itself is faithful, so a mismatch in the C++ test points at privedge.


def _np_conv(x, w, b, group, pads, strides, dilations):
    from numpy.lib.stride_tricks import sliding_window_view
    n, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    dh, dw = dilations
    win = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::strides[0], ::strides[1], ::dh, ::dw]     # n, c, ho, wo, kh, kw
    ho, wo = win.shape[2], win.shape[3]
    win = win.reshape(n, group, c // group, ho, wo, kh, kw)
    wg = w.reshape(group, cout // group, cin_g, kh, kw)
    y = np.einsum("ngcxyhw,gochw->ngoxy", win, wg, optimize=True).reshape(n, cout, ho, wo)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


def _np_maxpool(x, kernel, pads, strides):
    from numpy.lib.stride_tricks import sliding_window_view
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])),
               constant_values=-np.inf)
    win = sliding_window_view(x, tuple(kernel), axis=(2, 3))[:, :, ::strides[0], ::strides[1]]
    return win.max(axis=(4, 5))


def _np_lstm(x, w, r, b, init_h, init_c, hidden):
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))
    seq, batch, _ = x.shape
    w, r = w[0], r[0]
    bias = (b[0][:4 * hidden] + b[0][4 * hidden:]) if b is not None else 0.0
    h = init_h[0] if init_h is not None else np.zeros((batch, hidden))
    c = init_c[0] if init_c is not None else np.zeros((batch, hidden))
    ys = []
    for t in range(seq):
        g = x[t] @ w.T + h @ r.T + bias
        i, o, f, cc = (g[:, k * hidden:(k + 1) * hidden] for k in range(4))  # iofc
        c = sig(f) * c + sig(i) * np.tanh(cc)
        h = sig(o) * np.tanh(c)
        ys.append(h)
    y = np.stack(ys)[:, None]                                   # seq, 1, batch, hidden
    return y, h[None], c[None]


def run_onnx_float64(path, feeds):
    from onnx import numpy_helper
    m = onnx.load(path)
    env = {}

    def f64(a):
        return a.astype(np.float64) if a.dtype in (np.float32, np.float16) else a

    for t in m.graph.initializer:
        env[t.name] = f64(numpy_helper.to_array(t))
    for k, v in feeds.items():
        env[k] = f64(np.asarray(v))
    for nd in m.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in nd.attribute}
        ins = [env[i] if i else None for i in nd.input]
        op = nd.op_type
        if op == "Constant":
            out = [f64(numpy_helper.to_array(a["value"]))]
        elif op == "Identity":
            out = [ins[0]]
        elif op in ("Add", "Sub", "Mul", "Pow"):
            fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power}[op]
            out = [fn(ins[0], ins[1])]
        elif op == "Div":
            if np.issubdtype(ins[0].dtype, np.integer):
                q = np.trunc(ins[0] / ins[1]).astype(ins[0].dtype)
            else:
                q = ins[0] / ins[1]
            out = [q]
        elif op == "Sqrt":
            out = [np.sqrt(ins[0])]
        elif op == "Relu":
            out = [np.maximum(ins[0], 0)]
        elif op == "Clip":
            y = ins[0]
            if len(ins) > 1 and ins[1] is not None:
                y = np.maximum(y, ins[1])
            if len(ins) > 2 and ins[2] is not None:
                y = np.minimum(y, ins[2])
            out = [y]
        elif op == "Conv":
            k = len(ins[1].shape) - 2
            out = [_np_conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a.get("group", 1),
                            a.get("pads", [0] * 2 * k), a.get("strides", [1] * k),
                            a.get("dilations", [1] * k))]
        elif op == "MaxPool":
            assert a.get("ceil_mode", 0) == 0 and a.get("dilations", [1, 1]) == [1, 1]
            out = [_np_maxpool(ins[0], a["kernel_shape"], a.get("pads", [0] * 4),
                               a.get("strides", [1, 1]))]
        elif op == "GlobalAveragePool":
            out = [ins[0].mean(axis=tuple(range(2, ins[0].ndim)), keepdims=True)]
        elif op == "Flatten":
            ax = a.get("axis", 1)
            out = [ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)]
        elif op == "Gemm":
            A = ins[0].T if a.get("transA", 0) else ins[0]
            B = ins[1].T if a.get("transB", 0) else ins[1]
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
            out = [y]
        elif op == "MatMul":
            out = [np.matmul(ins[0], ins[1])]
        elif op == "Softmax":
            ax = a.get("axis", -1)
            e = np.exp(ins[0] - ins[0].max(axis=ax, keepdims=True))
            out = [e / e.sum(axis=ax, keepdims=True)]
        elif op == "ReduceMean":
            axes = tuple(a["axes"]) if "axes" in a else None
            out = [ins[0].mean(axis=axes, keepdims=bool(a.get("keepdims", 1)))]
        elif op == "Shape":
            out = [np.array(ins[0].shape, dtype=np.int64)]
        elif op == "Gather":
            out = [np.take(ins[0], ins[1], axis=a.get("axis", 0))]
        elif op == "Cast":
            to = a["to"]
            out = [ins[0].astype({1: np.float64, 11: np.float64, 7: np.int64, 6: np.int32,
                                  9: np.bool_}[to])]
        elif op == "Unsqueeze":
            y = ins[0]
            axes = sorted(int(v) % (y.ndim + len(ins[1])) for v in ins[1])
            for ax in axes:
                y = np.expand_dims(y, ax)
            out = [y]
        elif op == "Squeeze":
            axes = tuple(int(v) % ins[0].ndim for v in ins[1]) if len(ins) > 1 else None
            out = [np.squeeze(ins[0], axis=axes)]
        elif op == "Concat":
            out = [np.concatenate(ins, axis=a["axis"])]
        elif op == "Reshape":
            shape = [int(v) for v in ins[1]]
            assert not a.get("allowzero", 0)
            shape = [ins[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
            out = [ins[0].reshape(shape)]
        elif op == "Transpose":
            out = [np.transpose(ins[0], a.get("perm"))]
        elif op == "Slice":
            x = ins[0]
            starts, ends = ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
            steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            sl = [slice(None)] * x.ndim
            for s_, e_, ax, st in zip(starts, ends, axes, steps):
                dim = x.shape[int(ax)]
                s_, e_ = int(max(min(s_, dim), -dim - 1)), int(max(min(e_, dim), -dim - 1))
                sl[int(ax)] = slice(s_, e_, int(st))
            out = [x[tuple(sl)]]
        elif op == "ConstantOfShape":
            v = f64(numpy_helper.to_array(a["value"])) if "value" in a else np.zeros(1)
            out = [np.full([int(d) for d in ins[0]], v.reshape(-1)[0], dtype=v.dtype)]
        elif op == "LSTM":
            assert a.get("direction", "forward") == "forward" and "activations" not in a
            assert len(ins) < 5 or ins[4] is None, "sequence_lens not supported"
            ins += [None] * (8 - len(ins))
            out = list(_np_lstm(ins[0], ins[1], ins[2], ins[3], ins[5], ins[6],
                                a["hidden_size"]))
        else:
            raise NotImplementedError(f"numpy check: operator {op}")
        for name, v in zip(nd.output, out):
            if name:
                env[name] = v
    return [env[o.name] for o in m.graph.output]


# ---------------------------------------------------------------------------------------------
# Export and reference


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export(name, model, x, dynamic_axes, out_dir):
    model.eval()
    onnx_path = os.path.join(out_dir, name + ".onnx")
    with torch.no_grad():
        y32 = model(x).detach().numpy()
    # Export from the float32 model. Grad stays enabled during tracing (see
    # make_transformer_encoder); the exporter does not record gradients either way.
    torch.onnx.export(model, (x,), onnx_path, opset_version=OPSET, do_constant_folding=True,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": dynamic_axes, "output": dynamic_axes},
                      export_params=True)

    # The float64 reference: same weights, converted.
    m64 = model.double().eval()
    with torch.no_grad():
        ref = m64(x.double()).detach().numpy().astype(np.float64)
    model.float()

    err = float(np.max(np.abs(y32.astype(np.float64) - ref)))
    scale = float(np.max(np.abs(ref)))
    rel = err / scale
    # The exported graph, interpreted in float64 by NumPy, on the same input.
    (y_onnx,) = run_onnx_float64(onnx_path, {"input": x.numpy()})
    if y_onnx.shape != ref.shape:
        sys.exit(f"{name}: NumPy run of the ONNX graph gives shape {y_onnx.shape}, "
                 f"reference {ref.shape}")
    onnx_rel = float(np.max(np.abs(y_onnx - ref))) / scale
    # Batch 2 through the dynamic dimension: two copies of the input give two copies of ref.
    (y_b2,) = run_onnx_float64(onnx_path, {"input": np.concatenate([x.numpy()] * 2)})
    b2_rel = float(np.max(np.abs(y_b2 - np.concatenate([ref] * 2)))) / scale
    np.save(os.path.join(out_dir, name + ".input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, name + ".ref.npy"), ref)

    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    bad = [o for o in ops if not o[:1].isupper() or "ATen" in o or "aten" in o]
    nonstd = [n.domain for n in m.graph.node if n.domain not in ("", "ai.onnx")]
    if bad or nonstd:
        sys.exit(f"{name}: non-standard ops in export: {bad} {nonstd}")

    def dims(vi):
        return [d.dim_param if d.dim_param else d.dim_value
                for d in vi.type.tensor_type.shape.dim]

    info = {
        "name": name,
        "input_name": m.graph.input[0].name,
        "input_shape": list(x.shape),
        "input_decl": dims(m.graph.input[0]),
        "output_name": m.graph.output[0].name,
        "output_shape": list(ref.shape),
        "output_decl": dims(m.graph.output[0]),
        "ops": ops,
        "nodes": len(m.graph.node),
        "rel_err": rel,
        "onnx_rel_err": onnx_rel,
        "max_abs_ref": scale,
        "files": [name + ".onnx", name + ".input.npy", name + ".ref.npy"],
    }
    print(f"{name}: input {info['input_decl']} output {info['output_decl']} nodes {len(m.graph.node)}"
          f" max|ref| {scale:.4g}  float32-vs-float64 max abs err {err:.3e}"
          f" rel {rel:.3e}  ONNX-graph(numpy f64)-vs-ref rel {onnx_rel:.3e} (batch 2: {b2_rel:.3e})"
          f"  ops {' '.join(ops)}", flush=True)
    if not np.isfinite(ref).all() or scale < 1e-3 or scale > 1e4:
        sys.exit(f"{name}: reference out of a sensible range (max|ref| = {scale})")
    if onnx_rel > TOLERANCE / 10 or b2_rel > TOLERANCE / 10:
        sys.exit(f"{name}: the exported ONNX graph does not reproduce the reference "
                 f"({onnx_rel:.3e}, batch 2: {b2_rel:.3e})")
    if rel > TOLERANCE:
        sys.exit(f"{name}: float32 torch output differs from the float64 reference by {rel:.3e}"
                 f" (> {TOLERANCE})")
    return info


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "models"))
    ap.add_argument("--mobilenet-size", type=int, default=224)
    args = ap.parse_args()
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)

    def randn(*shape, seed):
        return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))

    s = args.mobilenet_size
    infos = []
    infos.append(export("mobilenet_v2_w035", make_mobilenet_v2(s), randn(1, 3, s, s, seed=101),
                        {0: "batch"}, out_dir))
    infos.append(export("resnet18_2stages", make_resnet18_2stages(224),
                        randn(1, 3, 224, 224, seed=102), {0: "batch"}, out_dir))
    infos.append(export("transformer_encoder", make_transformer_encoder(),
                        randn(1, 32, 128, seed=103), {0: "batch", 1: "seq"}, out_dir))
    infos.append(export("lstm", make_lstm(), randn(1, 50, 64, seed=104),
                        {0: "batch", 1: "seq"}, out_dir))

    def shape_str(s):
        return "[" + ",".join(str(d) for d in s) + "]"

    lines = [
        "# privedge PyTorch test models. Generated by tools/gen_test_models.py",
        f"# torch {torch.__version__}, torchvision {torchvision.__version__},"
        f" onnx {onnx.__version__}, opset {OPSET}.",
        "# Reference outputs are float64 (module.double() on input.double()).",
        "# float32_rel_err = max|torch_float32 - ref| / max|ref|.",
        "#",
        "# name input_name input_shape(run) input_shape(declared) output_name output_shape"
        " output_shape(declared) float32_rel_err",
    ]
    for i in infos:
        lines.append(" ".join([
            i["name"], i["input_name"], shape_str(i["input_shape"]), shape_str(i["input_decl"]),
            i["output_name"], shape_str(i["output_shape"]), shape_str(i["output_decl"]),
            f"{i['rel_err']:.3e}"]))
    lines.append("#")
    lines.append("# sha256 size_bytes file")
    for i in infos:
        for f in i["files"]:
            p = os.path.join(out_dir, f)
            lines.append(f"{sha256(p)} {os.path.getsize(p)} {f}")
    lines.append("#")
    lines.append("# operators used")
    for i in infos:
        lines.append(f"# {i['name']} ({i['nodes']} nodes): {' '.join(i['ops'])}")
    with open(os.path.join(out_dir, "MANIFEST.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for i in infos for f in i["files"])
    print(f"wrote {out_dir}/MANIFEST.txt; model files total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

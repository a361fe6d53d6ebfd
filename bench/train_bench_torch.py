#!/usr/bin/python3
"""PyTorch peer of privedge's training benchmark: the time of one SGD step.

Run with Debian's python (torch 1.13, onnx 1.12); the pyenv python3 first on PATH has no torch:

    /usr/bin/python3 bench/train_bench_torch.py [--steps 50] [--warmup 10]
        [--models cnn mlp] [--batches 32 64] [--threads 1 2] [--export-onnx PATH]

One step is what a device does per mini-batch: forward, cross-entropy loss, backward, and a
plain SGD update (lr 0.01, no momentum) of every parameter. Inputs are N(0, 1) noise and labels
uniform in 0..9, drawn once per configuration (seeded) so that only the step is timed. Models:

    cnn  the MNIST CNN of McMahan et al. 2017: conv 5x5 32 (pad 2), relu, maxpool 2,
         conv 5x5 64 (pad 2), relu, maxpool 2, fc 3136->512, relu, fc 512->10; input [B,1,28,28]
    mlp  784-128-10 with relu; input [B,784]

For every model x batch x threads (torch.set_num_threads; one inter-op thread; OMP_WAIT_POLICY
PASSIVE unless set, as privedge uses), the script runs
--warmup untimed steps, then --steps timed ones (time.perf_counter around each step), and
prints one JSON object: {"torch", "steps", "warmup", "omp_wait_policy", "configs": [{"model",
"batch", "threads", "median_ms", "p90_ms", "min_ms", "mean_ms", "examples_per_s",
"median_cpu_ms"}]}. Times are wall
clock; p90 is the nearest-rank percentile, as `privedge bench` reports it; examples_per_s is
batch / median; median_cpu_ms is the process CPU time of a step (all threads together), which
shows how much of a wall time on a busy machine was waiting for a core.

--export-onnx PATH also writes the CNN (seeded random weights) as ONNX: opset 13, input "input"
float32 [batch, 1, 28, 28] with a dynamic batch dimension, output "logits" [batch, 10], so the
privedge side trains the identical architecture. The file is checked with onnx.checker and its
output compared with torch's on a batch of 3 (float64, NumPy interpreter of
tools/gen_test_models.py).
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

# libgomp (torch's OpenMP runtime) reads its wait policy once, when it loads. privedge runs
# with a passive policy (see src/cli/main.cc); give torch the same unless the caller chose one,
# so that 2-thread figures compare like with like on a busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402  (after the environment is set)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from torch_models import MnistCnn, Mlp  # noqa: E402


MODELS = {"cnn": (MnistCnn, (1, 28, 28)), "mlp": (Mlp, (784,))}


def nearest_rank(sorted_values, q):
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def bench_config(name, batch, threads, steps, warmup):
    torch.set_num_threads(threads)
    if torch.get_num_threads() != threads:
        sys.exit(f"torch.set_num_threads({threads}) did not take (got {torch.get_num_threads()})")
    torch.manual_seed(0)
    make, example_shape = MODELS[name]
    model = make()
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, *example_shape)
    y = torch.randint(0, 10, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(warmup):
        step()
    times, cpu = [], []
    for _ in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        loss = step()
        times.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    if not math.isfinite(loss.item()):
        sys.exit(f"{name} batch {batch}: the loss is not finite ({loss.item()})")
    times.sort()
    median = statistics.median(times)
    return {
        "model": name,
        "batch": batch,
        "threads": threads,
        "median_ms": round(median, 4),
        "p90_ms": round(nearest_rank(times, 0.9), 4),
        "min_ms": round(times[0], 4),
        "mean_ms": round(statistics.fmean(times), 4),
        "examples_per_s": round(batch / median * 1e3, 1),
        "median_cpu_ms": round(statistics.median(cpu), 4),
    }


def export_cnn(path):
    import numpy as np
    import onnx

    torch.manual_seed(0)
    model = MnistCnn().eval()
    example = torch.randn(2, 1, 28, 28)
    torch.onnx.export(model, example, path, opset_version=13, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    if dims != ["batch", 1, 28, 28] or proto.graph.output[0].name != "logits":
        sys.exit(f"{path}: unexpected interface: input {dims}, output {proto.graph.output[0].name}")
    # The exported graph, run by the float64 NumPy interpreter of tools/gen_test_models.py,
    # must give torch's logits on a batch of 3 (shows the export and the dynamic batch work).
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import gen_test_models as gtm

    x = torch.randn(3, 1, 28, 28)
    (got,) = gtm.run_onnx_float64(path, {"input": x.numpy()})
    want = model.double()(x.double()).detach().numpy()
    err = float(np.max(np.abs(got - want)))
    if got.shape != (3, 10) or err > 1e-6:
        sys.exit(f"{path}: the exported graph disagrees with torch (shape {got.shape}, "
                 f"max error {err:.2e})")
    print(f"wrote {path}: max |onnx - torch| on a batch of 3: {err:.1e}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--models", nargs="+", default=["cnn", "mlp"], choices=sorted(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[32, 64])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--export-onnx", metavar="PATH", help="also write the CNN as ONNX to PATH")
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0 or min(args.batches) < 1 or min(args.threads) < 1:
        ap.error("--steps, --batches and --threads must be >= 1, --warmup >= 0")

    torch.set_num_interop_threads(1)
    if args.export_onnx:
        export_cnn(args.export_onnx)
    configs = [bench_config(m, b, t, args.steps, args.warmup)
               for m in args.models for b in args.batches for t in args.threads]
    print(json.dumps({"torch": torch.__version__, "steps": args.steps, "warmup": args.warmup,
                      "omp_wait_policy": os.environ["OMP_WAIT_POLICY"], "configs": configs},
                     indent=1))


if __name__ == "__main__":
    main()

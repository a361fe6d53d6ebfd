#!/usr/bin/python3
# Usage (repo root; one line, fits a make recipe): /usr/bin/python3 bench/check_accuracy.py [--privedge build/privedge] [--models bench/models] [--tol 1e-4] [--threads N] [MODEL...]
"""Checks privedge against the float64 references of the benchmark models.

For every model in bench/models (made by bench/gen_models.py), or only the MODELs named, runs

    PRIVEDGE run <name>.onnx <name>.input.npy --output-dir <tmp>

and compares the output with <name>.ref.npy. Prints a table: model, max|ref|, max|out - ref|,
that error relative to max|ref|, PASS/FAIL at --tol (default 1e-4), and privedge's load and run
times as it reports them (plus the wall time of the whole process). A crash, a timeout, a
missing or misshapen output or a non-finite value is a FAIL. Exits 1 if any model fails,
2 on a usage error. Needs only numpy (Debian's /usr/bin/python3 has it).
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))


def run_one(privedge, models, name, tol, threads, timeout):
    onnx_path = os.path.join(models, name + ".onnx")
    ref = np.load(os.path.join(models, name + ".ref.npy"))
    scale = float(np.max(np.abs(ref)))
    row = {"model": name, "scale": scale, "abs": None, "rel": None, "ok": False,
           "load": None, "run": None, "wall": None, "note": ""}
    with tempfile.TemporaryDirectory(prefix="privedge-check-") as out_dir:
        cmd = [privedge, "run", onnx_path, os.path.join(models, name + ".input.npy"),
               "--output-dir", out_dir]
        if threads:
            cmd += ["--threads", str(threads)]
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            row["note"] = f"timeout after {timeout} s"
            return row
        row["wall"] = (time.monotonic() - t0) * 1e3
        m = re.search(r"load ([0-9.eE+-]+) ms, run ([0-9.eE+-]+) ms", p.stdout)
        if m:
            row["load"], row["run"] = float(m.group(1)), float(m.group(2))
        if p.returncode != 0:
            msg = (p.stderr.strip() or p.stdout.strip()).splitlines()
            how = (f"killed by signal {-p.returncode}" if p.returncode < 0
                   else f"exit {p.returncode}")
            row["note"] = f"{how}: " + (msg[-1][:200] if msg else "(no message)")
            return row
        outs = sorted(glob.glob(os.path.join(out_dir, "*.npy")))
        if len(outs) != 1:
            row["note"] = f"expected one output .npy, got {len(outs)}"
            return row
        out = np.load(outs[0])
    if out.shape != ref.shape:
        row["note"] = f"output shape {list(out.shape)}, reference {list(ref.shape)}"
        return row
    if not np.isfinite(out).all():
        row["note"] = f"{int((~np.isfinite(out)).sum())} non-finite values"
        return row
    diff = np.abs(out.astype(np.float64) - ref)
    row["abs"] = float(diff.max())
    row["rel"] = row["abs"] / scale
    row["ok"] = row["rel"] <= tol
    if not row["ok"]:
        idx = np.unravel_index(int(diff.argmax()), diff.shape)
        row["note"] = (f"worst at {list(idx)}: out {float(out[idx]):.6g} ref {float(ref[idx]):.6g}"
                       f"; {int((diff > tol * scale).sum())}/{diff.size} elements over tol")
    return row


def fmt(v, spec):
    width = re.match(r">?(\d*)", spec).group(1)
    return format("-", ">" + width) if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--privedge", default=os.path.join(ROOT, "build", "privedge"))
    ap.add_argument("--models", default=os.path.join(HERE, "models"))
    ap.add_argument("--tol", type=float, default=1e-4, help="max error relative to max|ref|")
    ap.add_argument("--threads", type=int, default=0, help="pass --threads N to privedge")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per model")
    ap.add_argument("model", nargs="*", help="model names (default: all in --models)")
    args = ap.parse_args()

    if not os.access(args.privedge, os.X_OK):
        print(f"check_accuracy: no executable {args.privedge} (build it, or pass --privedge)",
              file=sys.stderr)
        return 2
    names = args.model or sorted(os.path.basename(p)[:-len(".ref.npy")]
                                 for p in glob.glob(os.path.join(args.models, "*.ref.npy")))
    missing = [n for n in names if not os.path.exists(os.path.join(args.models, n + ".onnx"))]
    for n in missing:
        print(f"check_accuracy: {n}: no {n}.onnx in {args.models}", file=sys.stderr)
    if missing:
        return 2
    if not names:
        print(f"check_accuracy: no models in {args.models} "
              "(run /usr/bin/python3 bench/gen_models.py)", file=sys.stderr)
        return 2

    print(f"privedge: {args.privedge}  models: {args.models}  tolerance: {args.tol:g} "
          "relative to max|ref|")
    header = (f"{'model':<20} {'max|ref|':>9} {'max abs err':>11} {'rel err':>9} {'result':>6}"
              f" {'load ms':>9} {'run ms':>10} {'wall ms':>9}  note")
    print(header)
    print("-" * len(header))
    failed = []
    for name in names:
        r = run_one(args.privedge, args.models, name, args.tol, args.threads, args.timeout)
        print(f"{name:<20} {r['scale']:>9.4g} {fmt(r['abs'], '>11.3e')} {fmt(r['rel'], '>9.2e')}"
              f" {'PASS' if r['ok'] else 'FAIL':>6} {fmt(r['load'], '>9.1f')}"
              f" {fmt(r['run'], '>10.2f')} {fmt(r['wall'], '>9.0f')}  {r['note']}", flush=True)
        if not r["ok"]:
            failed.append(name)
    print("-" * len(header))
    if failed:
        print(f"FAILED {len(failed)}/{len(names)}: {' '.join(failed)}")
        return 1
    print(f"all {len(names)} models pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/bash
# privedge against ONNX Runtime on the benchmark models, side by side on this machine.
#
# usage: bench/run_bench.sh [--privedge PATH] [--rounds N] [--threads "1 2"] [--budget-ms MS]
#                           [--raw FILE] [MODEL...]
#
# For every model of bench/models (generated with /usr/bin/python3 bench/gen_models.py when
# missing), or only the MODELs named, and every thread count, each round runs
#   PRIVEDGE bench MODEL.onnx MODEL.input.npy --threads T --runs R --warmup W --json
#   node bench/ort_bench.js MODEL.onnx --input MODEL.input.npy --ref MODEL.ref.npy --threads T ...
# one after the other (the order flips every round), each in a fresh process. R is chosen per
# engine and model from a calibration run so one invocation times about --budget-ms of work
# (5 to 200 runs). Reported: the median over rounds of each invocation's median latency, load
# time and peak RSS; ORT's output error against the float64 reference (must be within 1e-4 of
# max|ref|); privedge's, from bench/check_accuracy.py (same tolerance); and the FLOP floor from
# /work/shared/ANCHORS.md. Prints a Markdown table; exits 1 if an output is off or a run fails.
#
# ONNX Runtime comes from the npm package onnxruntime-node 1.30, installed on first use into
# $PRIVEDGE_ORT_DIR (default ~/.cache/privedge-bench/ort), outside the repository: it is a
# benchmark peer only, never a dependency of privedge.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODELS=$ROOT/bench/models
PRIVEDGE=$ROOT/build/privedge
ROUNDS=5
THREADS="1 2"
BUDGET_MS=1500
RAW=""
ORT_VERSION=1.30
export PRIVEDGE_ORT_DIR=${PRIVEDGE_ORT_DIR:-$HOME/.cache/privedge-bench/ort}

die() { echo "run_bench: $*" >&2; exit 1; }
need_value() { [ $# -ge 2 ] || die "option $1 needs a value"; }

names=()
while [ $# -gt 0 ]; do
  case $1 in
    --privedge) need_value "$@"; PRIVEDGE=$2; shift 2 ;;
    --rounds) need_value "$@"; ROUNDS=$2; shift 2 ;;
    --threads) need_value "$@"; THREADS=$2; shift 2 ;;
    --budget-ms) need_value "$@"; BUDGET_MS=$2; shift 2 ;;
    --raw) need_value "$@"; RAW=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) names+=("$1"); shift ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds expects a positive integer, got '$ROUNDS'"
[[ $BUDGET_MS =~ ^[1-9][0-9]*$ ]] || die "--budget-ms expects a positive integer, got '$BUDGET_MS'"
for t in $THREADS; do
  [[ $t =~ ^[1-9][0-9]*$ ]] || die "--threads expects positive integers, got '$t'"
done
[ -x "$PRIVEDGE" ] || die "no executable $PRIVEDGE (run make, or pass --privedge)"
command -v node > /dev/null || die "node is not installed (apt-get install nodejs)"

# Models.
if [ ${#names[@]} -eq 0 ]; then
  names=(mobilenet_v2 resnet18 squeezenet1_1 shufflenet_v2_x1_0 efficientnet_b0
         transformer_encoder lstm mlp mnist_cnn)
fi
missing=()
for n in "${names[@]}"; do
  for f in "$n.onnx" "$n.input.npy" "$n.ref.npy"; do
    [ -f "$MODELS/$f" ] || { missing+=("$n"); break; }
  done
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "generating ${missing[*]} with /usr/bin/python3 bench/gen_models.py ..." >&2
  /usr/bin/python3 "$ROOT/bench/gen_models.py" --only "${missing[@]}" >&2
fi

# ONNX Runtime: install once, then prove the prebuilt CPU binary loads and runs here.
ort_check() {
  (cd "$ROOT" && node bench/ort_bench.js "$MODELS/${names[0]}.onnx" \
     --input "$MODELS/${names[0]}.input.npy" --runs 1 --warmup 0 > /dev/null)
}
if [ ! -d "$PRIVEDGE_ORT_DIR/node_modules/onnxruntime-node" ]; then
  echo "installing onnxruntime-node@$ORT_VERSION into $PRIVEDGE_ORT_DIR ..." >&2
  mkdir -p "$PRIVEDGE_ORT_DIR"
  [ -f "$PRIVEDGE_ORT_DIR/package.json" ] ||
    echo '{"name": "privedge-bench-ort", "private": true}' > "$PRIVEDGE_ORT_DIR/package.json"
  # skip: do not fetch the optional CUDA/TensorRT binaries; the CPU one ships in the package.
  (cd "$PRIVEDGE_ORT_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund \
     "onnxruntime-node@$ORT_VERSION" >&2) || die "npm install onnxruntime-node@$ORT_VERSION failed"
fi
ort_check || die "onnxruntime-node in $PRIVEDGE_ORT_DIR does not run on this machine (see above)"

raw=${RAW:-$(mktemp /tmp/privedge-bench.XXXXXX)}
: > "$raw"

run_privedge() {  # model threads runs warmup
  "$PRIVEDGE" bench "$MODELS/$1.onnx" "$MODELS/$1.input.npy" --threads "$2" --runs "$3" \
    --warmup "$4" --json
}
run_ort() {  # model threads runs warmup
  (cd "$ROOT" && node bench/ort_bench.js "$MODELS/$1.onnx" --input "$MODELS/$1.input.npy" \
     --ref "$MODELS/$1.ref.npy" --threads "$2" --runs "$3" --warmup "$4")
}
json_ms() { sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" <<< "$1"; }
# Runs that fit the budget, from a calibration latency in ms: 5 to 200.
runs_for() {
  awk -v b="$BUDGET_MS" -v ms="$1" \
    'BEGIN { r = int(b / (ms > 0.001 ? ms : 0.001)); print (r < 5 ? 5 : r > 200 ? 200 : r) }'
}
warmup_for() { awk -v r="$1" 'BEGIN { w = int(r / 5); print (w < 1 ? 1 : w > 10 ? 10 : w) }'; }

# Calibration: one short invocation of each engine per model, at one thread.
declare -A RUNS WARM
for n in "${names[@]}"; do
  out=$(run_privedge "$n" 1 2 1) || die "privedge bench failed on $n"
  RUNS[privedge,$n]=$(runs_for "$(json_ms "$out" median_ms)")
  out=$(run_ort "$n" 1 5 2) || die "ort_bench failed on $n"
  RUNS[ort,$n]=$(runs_for "$(json_ms "$out" median_ms)")
  for e in privedge ort; do WARM[$e,$n]=$(warmup_for "${RUNS[$e,$n]}"); done
  echo "calibrated $n: privedge ${RUNS[privedge,$n]} runs," \
       "ORT ${RUNS[ort,$n]} runs per invocation" >&2
done

start=$(date +%s)
for ((round = 1; round <= ROUNDS; ++round)); do
  for n in "${names[@]}"; do
    for t in $THREADS; do
      if ((round % 2)); then order="privedge ort"; else order="ort privedge"; fi
      line="[round $round/$ROUNDS] $n, $t thread(s):"
      for e in $order; do
        out=$(run_$e "$n" "$t" "${RUNS[$e,$n]}" "${WARM[$e,$n]}") ||
          die "$e failed on $n at $t threads"
        echo "$e $n $t $round $(cut -d' ' -f1 /proc/loadavg) $out" >> "$raw"
        line+=" $e $(awk -v v="$(json_ms "$out" median_ms)" 'BEGIN { printf "%.3f", v }') ms"
      done
      echo "$line ($(($(date +%s) - start)) s)" >&2
    done
  done
done

echo "raw results: $raw" >&2
PRIVEDGE="$PRIVEDGE" MODELS="$MODELS" /usr/bin/python3 - "$raw" "$ROOT/bench" <<'EOF'
import json, os, statistics, sys, time

raw, bench_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, bench_dir)
import check_accuracy  # noqa: E402  (privedge's output against the float64 reference)

TOL = 1e-4
# /work/shared/ANCHORS.md: multiply-add FLOPs x2 of each model, and the FP32 GEMM rate at N=2048
# (OpenBLAS) on 1 and 2 threads of the reference machine (AMD EPYC Zen 5, AVX-512).
MFLOP = {"mobilenet_v2": 602, "resnet18": 3628, "squeezenet1_1": 698, "shufflenet_v2_x1_0": 290,
         "efficientnet_b0": 772, "transformer_encoder": 117, "lstm": 23, "mlp": 0.4,
         "mnist_cnn": 25}
GEMM_GFLOPS = {1: 239, 2: 471}

runs = {}
loads = []
for line in open(raw):
    engine, name, threads, _round, load, text = line.split(" ", 5)
    loads.append(float(load))
    runs.setdefault((name, int(threads)), {}).setdefault(engine, []).append(json.loads(text))
names = list(dict.fromkeys(n for n, _ in runs))


def med(rs, key):
    return statistics.median(r[key] for r in rs)


def first(rs):  # time from creating the session to the first result
    return statistics.median(r["load_ms"] + r["first_run_ms"] for r in rs)


pe_err = {n: check_accuracy.run_one(os.environ["PRIVEDGE"], os.environ["MODELS"], n, TOL, 1, 900)
          for n in names}
bad = []
rows = []
for (name, t), by in runs.items():
    pe, ort = by["privedge"], by["ort"]
    ort_rel = max(r["rel_err"] for r in ort)
    if ort_rel > TOL:
        bad.append(f"ORT {name} rel err {ort_rel:.2e}")
    e = pe_err[name]
    if not e["ok"]:
        bad.append(f"privedge {name}: rel err {e['rel']} {e['note']}")
    floor = MFLOP[name] / GEMM_GFLOPS[t] if t in GEMM_GFLOPS else None
    mb = lambda rs, key: med(rs, key) / 1024
    rows.append([
        name, str(t), f"{med(pe, 'median_ms'):.3f}", f"{med(ort, 'median_ms'):.3f}",
        f"{med(pe, 'median_ms') / med(ort, 'median_ms'):.1f}",
        f"{med(pe, 'load_ms'):.1f} / {med(ort, 'load_ms'):.1f}",
        f"{first(pe):.1f} / {first(ort):.1f}",
        f"{mb(pe, 'peak_rss_kb'):.0f} (+{mb(pe, 'model_rss_kb'):.0f}) / "
        f"{mb(ort, 'peak_rss_kb'):.0f} (+{mb(ort, 'model_rss_kb'):.0f})",
        f"{floor:.3f}" if floor is not None else "-",
        f"{med(pe, 'median_ms') / floor:.0f}" if floor else "-",
        "-" if e["rel"] is None else f"{e['rel']:.1e}", f"{ort_rel:.1e}",
        f"{len(pe)}x{pe[0]['runs']} / {len(ort)}x{ort[0]['runs']}",
    ])
header = ["model", "threads", "privedge ms", "ORT ms", "ratio pe/ORT", "load ms pe / ORT",
          "load + 1st run ms pe / ORT",
          "peak RSS MB (+model) pe / ORT", "FLOP floor ms", "pe / floor", "pe rel err",
          "ORT rel err", "rounds x runs pe / ORT"]
cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
            if line.startswith("model name")), "?")
print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu}, {os.cpu_count()} CPUs, "
      f"1-minute load average during the run {min(loads):.1f} to {max(loads):.1f} "
      f"(median {statistics.median(loads):.1f}), privedge {os.environ['PRIVEDGE']}\n")
print("| " + " | ".join(header) + " |")
print("|" + "---|" * len(header))
for r in rows:
    print("| " + " | ".join(r) + " |")
print(f"\nORT {ort[0]['ort_version']} (onnxruntime-node, CPU); latency, load and RSS are medians "
      "over rounds of each invocation's value; rel err is max|out - ref| / max|ref| against "
      f"the float64 reference (tolerance {TOL:g}).")
if bad:
    print("\nFAILED: " + "; ".join(bad))
    sys.exit(1)
EOF

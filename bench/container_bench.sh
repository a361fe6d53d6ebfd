#!/bin/sh
# Loading a model container vs its .onnx: load time (Session::Load until ready to run), first
# run, the libsodium decryption floor of an encrypted container, and bit-identical outputs.
# Each configuration runs N times (default 5) interleaved, and the medians are printed.
# usage: bench/container_bench.sh [MODEL.onnx [INPUT.npy [N]]]
#   default: bench/models/resnet18.onnx and its .input.npy (see tools/ for the generator)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pe=${PRIVEDGE:-$here/../build/privedge}
model=${1:-$here/models/resnet18.onnx}
input=${2:-${model%.onnx}.input.npy}
n=${3:-5}
threads=${THREADS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

$pe convert "$model" "$work/plain.pmc" > /dev/null
$pe convert "$model" "$work/enc.pmc" --encrypt --keystore-dir "$work/ks" > /dev/null

# Outputs, byte for byte.
$pe run "$model" "$input" --threads "$threads" --output-dir "$work/o_onnx" > /dev/null
$pe run "$work/plain.pmc" "$input" --threads "$threads" --output-dir "$work/o_plain" > /dev/null
$pe run "$work/enc.pmc" "$input" --threads "$threads" --keystore-dir "$work/ks" --output-dir "$work/o_enc" > /dev/null
identical=yes
for f in "$work"/o_onnx/*.npy; do
  b=$(basename "$f")
  cmp -s "$f" "$work/o_plain/$b" && cmp -s "$f" "$work/o_enc/$b" || identical=no
done

i=0
while [ $i -lt "$n" ]; do
  for kind in onnx plain enc; do
    case $kind in
      onnx) m=$model; extra="" ;;
      plain) m=$work/plain.pmc; extra="" ;;
      enc) m=$work/enc.pmc; extra="--keystore-dir $work/ks" ;;
    esac
    # shellcheck disable=SC2086
    $pe bench "$m" "$input" --threads "$threads" --runs 3 --warmup 0 --json $extra >> "$work/$kind.jsonl"
  done
  i=$((i + 1))
done

python3 - "$work" "$identical" "$n" "$threads" "$model" <<'EOF'
import json, statistics, sys
work, identical, n, threads, model = sys.argv[1:]
def med(kind, key):
    rows = [json.loads(l) for l in open(f"{work}/{kind}.jsonl")]
    return statistics.median(r[key] for r in rows if key in r)
onnx_load, plain_load, enc_load = (med(k, "load_ms") for k in ("onnx", "plain", "enc"))
floor = med("enc", "decrypt_floor_ms")
ratio_enc = med("enc", "load_vs_decrypt_floor")
print(f"model {model}, {n} interleaved runs per row, {threads} threads, medians")
print(f"| measure | .onnx | plain .pmc | encrypted .pmc |")
print(f"|---|---|---|---|")
print(f"| load (Session::Load) ms | {onnx_load:.2f} | {plain_load:.2f} | {enc_load:.2f} |")
print(f"| first run ms | {med('onnx','first_run_ms'):.1f} | {med('plain','first_run_ms'):.1f} | {med('enc','first_run_ms'):.1f} |")
print(f"| median run ms | {med('onnx','median_ms'):.1f} | {med('plain','median_ms'):.1f} | {med('enc','median_ms'):.1f} |")
print(f"| model's share of peak RSS MiB | {med('onnx','model_rss_kb')/1024:.1f} | {med('plain','model_rss_kb')/1024:.1f} | {med('enc','model_rss_kb')/1024:.1f} |")
print()
print(f"plain load / .onnx load: {plain_load / onnx_load:.4f} (target <= 0.1)")
print(f"libsodium decrypt floor (one pass, same process): {floor:.1f} ms; "
      f"encrypted load / floor: median {ratio_enc:.2f} (target <= 1.5)")
print(f"outputs bit-identical to the .onnx run: {identical}")
EOF

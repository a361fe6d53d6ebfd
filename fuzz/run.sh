#!/bin/sh
# Runs each libFuzzer target SECONDS seconds: fuzz/run.sh BUILD_DIR SECONDS TARGET...
# Corpus per target: BUILD_DIR/fuzz-corpus/TARGET (kept between runs, grows), plus the
# committed seeds and regressions in fuzz/corpus/TARGET, plus seeds taken from the test data.
# A finding is written to BUILD_DIR/fuzz-artifacts/TARGET/ and makes the script fail; add it to
# fuzz/corpus/TARGET/ (and a unit test) once fixed.
set -u
build=$1 seconds=$2
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
node=/usr/share/libonnx-testdata/data/node
status=0

# Copies files smaller than 64 KiB from the named places into the seed folder.
seed() {
  dir=$1
  shift
  for f in "$@"; do
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 65536 ] && cp "$f" "$dir/$(echo "$f" | tr / _)"
  done
}

# The same with BYTE (octal) put in front of each file: the selector byte of targets whose
# first input byte picks a mode.
seed_with() {
  byte=$1 dir=$2
  shift 2
  for f in "$@"; do
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 65536 ] &&
      { printf "\\$byte"; cat "$f"; } > "$dir/$byte$(echo "$f" | tr / _)"
  done
}

for target in "$@"; do
  bin=$build/fuzz_$target
  [ -x "$bin" ] || { echo "fuzz: $bin not built" >&2; exit 1; }
  work=$build/fuzz-corpus/$target seeds=$build/fuzz-seeds/$target art=$build/fuzz-artifacts/$target
  mkdir -p "$work" "$seeds" "$art" "$src/fuzz/corpus/$target"
  case $target in
    onnx_loader) seed "$seeds" "$src"/tests/data/bad/*.onnx "$src"/tests/data/bad/*/*.onnx \
                   "$src"/tests/data/session/*.onnx "$src"/tests/data/sandbox/*.onnx \
                   "$node"/*/model.onnx ;;
    npy) seed "$seeds" "$src"/tests/data/models/*.npy ;;
    tensor_proto) seed "$seeds" "$node"/*/test_data_set_0/*.pb ;;
    idx) seed "$seeds" "$src"/tests/data/train/*.idx* /usr/share/datasets/fashion-mnist/*.gz ;;
    csv) seed_with 000 "$seeds" "$src"/tests/data/train/*.csv
         seed_with 020 "$seeds" "$src"/tests/data/train/*.csv ;;
  esac
  echo "fuzz: $target for $seconds s"
  # Targets that generate valid inputs of the current format write them into the seed folder.
  PRIVEDGE_FUZZ_SEEDS=$seeds nice -n 19 "$bin" -max_total_time="$seconds" -timeout=20 \
    -rss_limit_mb=2560 -artifact_prefix="$art/" -print_final_stats=1 \
    "$work" "$src/fuzz/corpus/$target" "$seeds" \
    > "$build/fuzz-$target.log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz-$target.log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$build/fuzz-$target.log" | tail -1)
  echo "fuzz: $target: exit $rc, ${runs:-?} runs, $cov, corpus $(ls "$work" | wc -l) files (log $build/fuzz-$target.log)"
  if [ $rc -ne 0 ]; then
    status=1
    grep -m 3 -E 'ERROR|SUMMARY|Test unit written' "$build/fuzz-$target.log" >&2
  fi
done
exit $status

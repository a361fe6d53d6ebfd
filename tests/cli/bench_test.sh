#!/bin/sh
# End-to-end checks of `privedge bench`: a good run prints one JSON object with every key (and
# a table without --json); bad input gives one clear line and a non-zero exit (never a crash).
# usage: bench_test.sh PRIVEDGE SOURCE_DIR
set -u
pe=$1 src=$2
model=$src/tests/data/models/lstm.onnx
. "$(dirname "$0")/lib.sh"


# Good run, --json: one object with every key, sensible values. Inputs are generated.
if $pe bench "$model" --runs 3 --warmup 1 --threads 1 --json > "$tmp/bench.json" 2> "$tmp/err"; then
  python3 - "$tmp/bench.json" <<'EOF' || fail "bench --json output is not the expected object"
import json, sys
text = open(sys.argv[1]).read()
r = json.loads(text)
keys = ["model", "threads", "runs", "warmup", "inputs", "load_ms", "first_run_ms", "median_ms",
        "p90_ms", "min_ms", "mean_ms", "max_ms", "rss_before_load_kb", "peak_rss_kb",
        "model_rss_kb"]
missing = [k for k in keys if k not in r]
assert not missing, f"missing keys {missing} in {text}"
assert text.count("\n") == 1, "expected exactly one line"
assert r["runs"] == 3 and r["warmup"] == 1 and r["threads"] == 1, text
assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] <= r["max_ms"], text
assert r["load_ms"] > 0 and r["first_run_ms"] > 0, text
assert r["peak_rss_kb"] >= r["rss_before_load_kb"] > 0, text
assert [i["source"] for i in r["inputs"]] == ["random"], text
EOF
else
  fail "bench --json exited non-zero:"; cat "$tmp/err" >&2
fi

# The same model with its input from a file, table output.
$pe bench "$model" "$src/tests/data/models/lstm.input.npy" --runs 2 --warmup 0 > "$tmp/table.txt" \
  || fail "bench with a positional input file"
grep -q "^median " "$tmp/table.txt" || fail "bench table lacks the median row"
grep -q "lstm.input.npy" "$tmp/table.txt" || fail "bench table does not name the input file"

# --profile: the per-operator and slowest-node tables, and one profile entry per node in JSON.
resnet=$src/tests/data/models/resnet18_2stages.onnx
$pe bench "$resnet" --runs 3 --warmup 0 --threads 1 --profile > "$tmp/profile.txt" \
  || fail "bench --profile exited non-zero"
grep -q "^per operator" "$tmp/profile.txt" || fail "bench --profile lacks the per-operator table"
grep -q "^slowest nodes" "$tmp/profile.txt" || fail "bench --profile lacks the slowest nodes"
grep -q "FusedConv  *dnnl_f32_conv_act" "$tmp/profile.txt" \
  || fail "bench --profile does not name the fused convolutions and their kernel"
$pe bench "$resnet" --runs 3 --warmup 0 --threads 1 --profile --json > "$tmp/profile.json" \
  || fail "bench --profile --json exited non-zero"
python3 - "$tmp/profile.json" <<'EOF' || fail "bench --profile --json lacks a sound profile array"
import json, sys
r = json.loads(open(sys.argv[1]).read())
p = r["profile"]
assert p and all(e["median_ms"] >= 0 and e["mean_ms"] >= 0 and e["kernel"] for e in p), p
assert sum(e["median_ms"] for e in p) <= r["max_ms"] * 1.5 + 0.1, r
EOF

# Bad input.
expect_error "no model" "expected a MODEL path" $pe bench
expect_error "missing model" "cannot open" $pe bench "$tmp/none.onnx"
expect_error "bad runs" "--runs expects an integer" $pe bench "$model" --runs 0
expect_error "bad warmup" "--warmup expects an integer" $pe bench "$model" --warmup x
expect_error "bad threads" "--threads expects an integer" $pe bench "$model" --threads -2
expect_error "runs without value" "option --runs needs a value" $pe bench "$model" --runs
expect_error "json with a value" "option --json takes no value" $pe bench "$model" --json=yes
expect_error "bad option" "unknown option --bogus" $pe bench "$model" --bogus
expect_error "bad --input" "--input expects NAME=FILE" $pe bench "$model" --input nofile
expect_error "missing input file" "cannot open" $pe bench "$model" --input "input=$tmp/none.npy"
expect_error "wrong input name" "unknown input 'nope'" \
  $pe bench "$model" --input "nope=$src/tests/data/models/lstm.input.npy"
expect_error "too many positionals" "too many positional" $pe bench "$model" a.npy b.npy

finish "bench CLI"

#!/bin/sh
# End-to-end checks of the privedge command: good runs, and bad input giving one clear line
# and a non-zero exit (never a crash).
# usage: cli_test.sh PRIVEDGE SOURCE_DIR
set -u
pe=$1 src=$2
node=/usr/share/libonnx-testdata/data/node
. "$(dirname "$0")/lib.sh"


# A good run writes NAME.npy for each output.
$pe run $node/test_relu/model.onnx $node/test_relu/test_data_set_0/input_0.pb --output-dir "$tmp/out1" > "$tmp/run.txt" \
  || fail "run test_relu"
[ -f "$tmp/out1/y.npy" ] || fail "run did not write y.npy"
grep -q "float32" "$tmp/run.txt" || fail "run summary lacks the output type"
$pe inspect $node/test_relu/model.onnx | grep -q "Relu" || fail "inspect does not list Relu"
$pe inspect $src/tests/data/models/lstm.onnx --optimized | grep -q "constant folding  *18" \
  || fail "inspect --optimized does not report the passes"

# Bad input.
expect_error "missing model" "cannot open" $pe run "$tmp/none.onnx"
head -c 100 /dev/urandom > "$tmp/garbage.onnx"
expect_error "garbage model" "not a valid ONNX model" $pe run "$tmp/garbage.onnx"
head -c 40 $node/test_conv_with_strides_padding/model.onnx > "$tmp/truncated.onnx"
expect_error "truncated model" "" $pe run "$tmp/truncated.onnx"
expect_error "wrong input name" "unknown input 'nope'" \
  $pe run $node/test_relu/model.onnx --input nope=$node/test_relu/test_data_set_0/input_0.pb
expect_error "missing input" "missing input 'x'" $pe run $node/test_relu/model.onnx
expect_error "wrong input type" "expected type float32" \
  $pe run $node/test_relu/model.onnx $node/test_add_uint8/test_data_set_0/input_0.pb
expect_error "wrong input shape" "input 'x': expected shape float32[3,4,5] (rank 3), got [3]" \
  $pe run $node/test_relu/model.onnx $node/test_sigmoid_example/test_data_set_0/input_0.pb
expect_error "bad option" "unknown option" $pe run $node/test_relu/model.onnx --bogus
expect_error "bad threads" "--threads" $pe run $node/test_relu/model.onnx --threads abc
expect_error "unknown command" "unknown command" $pe frobnicate

# Models built by the generator of hostile cases (tools/make_bad_models.py), committed. Each
# must fail with one line that names the problem: the fragment listed in the corpus README.
# (bad/limits/ holds cases that only fail fast with lowered limits; the unit tests run them.)
bad=$src/tests/data/bad
if [ -d "$bad" ]; then
  for m in "$bad"/*.onnx "$bad"/external/*.onnx; do
    rel=${m#"$bad"/}
    [ "$rel" = external/symlink_escape.onnx ] && continue  # needs its link; see below
    # README rows: | `FILE` | case | `FRAGMENT` |
    fragment=$(awk -F'`' -v f="$rel" '$2 == f { print $4 }' "$bad/README.md")
    [ -n "$fragment" ] || fail "bad model $rel is not listed in $bad/README.md"
    expect_error "bad model $rel" "$fragment" $pe run "$m"
  done
  # External data through a symlink that leaves the model's folder (made here: a committed
  # link would point at a machine-specific path).
  mkdir -p "$tmp/ext/model"
  printf '0123456789abcdef' > "$tmp/ext/outside.bin"
  cp "$bad/external/symlink_escape.onnx" "$tmp/ext/model/"
  ln -s "$tmp/ext/outside.bin" "$tmp/ext/model/link.bin"
  expect_error "external data symlink" "resolves outside the model's folder" \
    $pe run "$tmp/ext/model/symlink_escape.onnx"
fi

finish "CLI"

#!/bin/sh
# `privedge run --isolated`: the same outputs as in-process, and the same one-line errors for
# the hostile model corpus, through the sandboxed worker.
# usage: isolated_cli_test.sh PRIVEDGE SOURCE_DIR
set -u
pe=$1 src=$2
node=/usr/share/libonnx-testdata/data/node
. "$src/tests/cli/lib.sh"

# Outputs byte-identical to in-process runs (single- and multi-input models, 1 and 2 threads).
same_outputs() {
  desc=$1; shift
  rm -rf "$tmp/a" "$tmp/b"
  "$@" --output-dir "$tmp/a" > /dev/null 2>&1 || { fail "$desc: in-process run failed"; return; }
  "$@" --isolated --output-dir "$tmp/b" > "$tmp/iso.txt" 2>&1 || { fail "$desc: isolated run failed:"; cat "$tmp/iso.txt" >&2; return; }
  for f in "$tmp"/a/*.npy; do
    cmp -s "$f" "$tmp/b/$(basename "$f")" || fail "$desc: $(basename "$f") differs"
  done
}
same_outputs "relu" $pe run $node/test_relu/model.onnx $node/test_relu/test_data_set_0/input_0.pb
same_outputs "add (two inputs)" $pe run $node/test_add/model.onnx \
  --input x=$node/test_add/test_data_set_0/input_0.pb --input y=$node/test_add/test_data_set_0/input_1.pb
for threads in 1 2; do
  for m in lstm transformer_encoder mobilenet_v2_w035; do
    same_outputs "$m, $threads threads" $pe run $src/tests/data/models/$m.onnx \
      $src/tests/data/models/$m.input.npy --threads $threads
  done
done

# The test-only hostile operators exist only in the tests' worker, never in privedge.
expect_error "test-only operator" "operator 'test.privedge.OpenSocket' (opset 1) is not supported" \
  $pe run --isolated $src/tests/data/sandbox/open_socket.onnx

# Every hostile model: one error line with its fragment, through the worker too.
bad=$src/tests/data/bad
for m in "$bad"/*.onnx "$bad"/external/*.onnx; do
  rel=${m#"$bad"/}
  [ "$rel" = external/symlink_escape.onnx ] && continue  # needs its link (cli_test.sh makes it)
  fragment=$(awk -F'`' -v f="$rel" '$2 == f { print $4 }' "$bad/README.md")
  expect_error "isolated bad model $rel" "$fragment" $pe run --isolated "$m"
done

# An encrypted container runs isolated too: its packed weights go to locked memory after the
# filter is in place, and the outputs match the in-process run of the .onnx.
models=$src/tests/data/models
PRIVEDGE_HOME="$tmp/home" $pe keys init --keystore software > /dev/null 2>&1 || fail "keys init"
PRIVEDGE_HOME="$tmp/home" $pe convert "$models/lstm.onnx" "$tmp/lstm.pmc" --encrypt > /dev/null 2>&1 \
  || fail "convert --encrypt"
$pe run "$models/lstm.onnx" "$models/lstm.input.npy" --output-dir "$tmp/enc_ref" > /dev/null 2>&1 || fail "run lstm"
PRIVEDGE_HOME="$tmp/home" $pe run "$tmp/lstm.pmc" "$models/lstm.input.npy" --isolated \
  --output-dir "$tmp/enc_iso" > /dev/null 2> "$tmp/err" || fail "isolated encrypted container: $(cat "$tmp/err")"
for f in "$tmp"/enc_ref/*.npy; do
  cmp -s "$f" "$tmp/enc_iso/$(basename "$f")" || fail "isolated encrypted output $(basename "$f") differs"
done
finish "isolated CLI"

#!/bin/sh
# End-to-end checks of privedge train and privedge eval on a tiny separable problem
# (tests/data/train/tiny*, from tools/torch_train_reference.py; tiny_x.idx.gz (float32 IDX,
# gzipped), tiny_y.idx (uint8 IDX), tiny_u8.idx.gz ([60, 2, 2] uint8 rescaled features) and
# tiny.csv (features and a 'label' column) hold the same examples).
# usage: cli_train_test.sh PRIVEDGE SOURCE_DIR
set -u
pe=$1 src=$2
d=$src/tests/data/train
. "$src/tests/cli/lib.sh"

# Untrained (zero weights): loss ln 3. Trained: separable data, all correct.
expect_output "eval before" "loss 1.0986" $pe eval $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy
expect_output "train" "epoch 30:" $pe train $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy \
  --epochs 30 --batch 8 --lr 0.1 --out "$tmp/trained.onnx" --delta "$tmp/delta.npy"
[ -s "$tmp/delta.npy" ] || fail "train did not write the delta"
expect_output "eval after" "accuracy 1.0000" $pe eval "$tmp/trained.onnx" --data $d/tiny_x.npy \
  --labels $d/tiny_y.npy
expect_output "train json adam" '"epoch": 2' $pe train $d/tiny.onnx --data $d/tiny_x.npy \
  --labels $d/tiny_y.npy --epochs 2 --optimizer adam --lr 0.01 --json
# The trained model also runs on the inference engine.
$pe run "$tmp/trained.onnx" $d/tiny_x.npy --output-dir "$tmp/run" > /dev/null || fail "run trained model"
[ -f "$tmp/run/logits.npy" ] || fail "run of the trained model wrote no logits"

expect_error "no data" "--data and --labels are required" $pe train $d/tiny.onnx
expect_error "labels mismatch" "examples" $pe train $d/tiny.onnx --data $d/tiny_x.npy \
  --labels $src/tests/data/models/lstm.ref.npy
expect_error "bad optimizer" "--optimizer" $pe train $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy \
  --optimizer rmsprop
expect_error "bad loss" "--loss" $pe eval $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy --loss hinge
expect_error "bad lr" "--lr" $pe train $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy --lr -1
expect_error "float labels for cross-entropy" "labels" $pe train $d/tiny.onnx --data $d/tiny_x.npy \
  --labels $d/tiny_x.npy --loss cross-entropy
expect_error "untrainable model" "LSTM" $pe train $src/tests/data/models/lstm.onnx --data $d/tiny_x.npy \
  --labels $d/tiny_y.npy
expect_error "missing model" "cannot open" $pe eval "$tmp/none.onnx" --data $d/tiny_x.npy --labels $d/tiny_y.npy
# IDX (gzipped or not) and CSV read through the dataset loaders give the .npy result.
expect_output "train idx" "epoch 30:" $pe train $d/tiny.onnx --data $d/tiny_x.idx.gz \
  --labels $d/tiny_y.idx --epochs 30 --batch 8 --lr 0.1 --out "$tmp/idx.onnx"
expect_output "eval idx" "accuracy 1.0000" $pe eval "$tmp/idx.onnx" --data $d/tiny_x.idx.gz \
  --labels $d/tiny_y.idx
expect_output "train csv with label column" "epoch 30:" $pe train $d/tiny.onnx --data $d/tiny.csv \
  --label-column label --epochs 30 --batch 8 --lr 0.1 --out "$tmp/csv.onnx"
expect_output "eval csv" "accuracy 1.0000" $pe eval "$tmp/csv.onnx" --data $d/tiny.csv --label-column -1
# uint8 [60, 2, 2] images are scaled to [0, 1] and reshaped to the model's [batch, 4] input.
expect_output "train uint8 idx" "epoch 2:" $pe train $d/tiny.onnx --data $d/tiny_u8.idx.gz \
  --labels $d/tiny_y.idx --epochs 2 --batch 8 --lr 0.1 --mean 0.5 --stddev 0.25
expect_error "mean without stddev" "--mean and --stddev" $pe train $d/tiny.onnx \
  --data $d/tiny_u8.idx.gz --labels $d/tiny_y.idx --mean 0.5
expect_error "csv without labels" "label-column" $pe train $d/tiny.onnx --data $d/tiny.csv

# Learning-rate schedule, test set after each epoch, --max-steps.
expect_output "schedule" '"lr": 0.05,' $pe train $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy \
  --epochs 3 --batch 8 --lr-schedule 0.1,0.05 --test-data $d/tiny_x.idx.gz --test-labels $d/tiny_y.idx --json
grep -q '"epoch": 3, "steps": 8, "lr": 0.05,.*"test_accuracy"' "$tmp/out" || fail "schedule/test: $(cat "$tmp/out")"
expect_output "max steps" '"steps": 3,' $pe train $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy \
  --epochs 5 --batch 8 --max-steps 3 --json
[ "$(wc -l < "$tmp/out")" -eq 1 ] || fail "--max-steps 3 ran more than one epoch"
expect_error "lr and schedule" "not both" $pe train $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy \
  --lr 0.1 --lr-schedule 0.1,0.2
expect_error "bad schedule" "--lr-schedule" $pe train $d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy \
  --lr-schedule 0.1,x

# Checkpoints: 2 epochs + resume to 4 give the losses of 4 epochs in one go, plain and sealed.
losses() { sed -n 's/.*"epoch": \([0-9]*\),.*"loss": \([0-9.]*\),.*/\1 \2/p' "$1"; }
common="$d/tiny.onnx --data $d/tiny_x.npy --labels $d/tiny_y.npy --batch 8 --lr 0.05 --seed 3 --json"
$pe train $common --epochs 4 > "$tmp/full.json" || fail "train 4 epochs"
losses "$tmp/full.json" | sed -n '3,4p' > "$tmp/want"
[ -s "$tmp/want" ] || fail "no losses from the 4-epoch run"
for mode in plain sealed; do
  enc=""
  [ $mode = sealed ] && enc="--encrypt-checkpoint --keystore software --keystore-dir $tmp/ks"
  $pe train $common --epochs 2 --checkpoint "$tmp/ck.$mode" $enc > /dev/null 2>&1 || fail "$mode: train 2 epochs"
  $pe train $common --epochs 4 --checkpoint "$tmp/ck.$mode" --resume $enc > "$tmp/resumed" 2> "$tmp/err" ||
    { fail "$mode: resume"; cat "$tmp/err" >&2; }
  grep -q "resuming from" "$tmp/err" || fail "$mode: resume did not say it resumed"
  losses "$tmp/resumed" > "$tmp/got"
  cmp -s "$tmp/want" "$tmp/got" || fail "$mode: resumed losses $(cat "$tmp/got") differ from $(cat "$tmp/want")"
done
head -c 8 "$tmp/ck.sealed" | grep -q PESCKPT1 || fail "sealed checkpoint lacks its magic"
head -c 8 "$tmp/ck.plain" | grep -q PETRCKPT || fail "plain checkpoint lacks its magic"
expect_error "sealed checkpoint without keystore" "keystore" $pe train $common --epochs 4 \
  --checkpoint "$tmp/ck.sealed" --resume
expect_error "plain checkpoint where sealed expected" "not sealed" $pe train $common --epochs 4 \
  --checkpoint "$tmp/ck.plain" --resume --encrypt-checkpoint --keystore software --keystore-dir "$tmp/ks"
expect_error "resume with another batch" "not at the end of an epoch" $pe train $d/tiny.onnx \
  --data $d/tiny_x.npy --labels $d/tiny_y.npy --batch 7 --epochs 4 --checkpoint "$tmp/ck.plain" --resume
expect_error "resume without checkpoint" "--checkpoint" $pe train $common --resume

# Containers: train a plain and an encrypted .pmc, export containers, run them.
$pe convert $d/tiny.onnx "$tmp/tiny.pmc" > /dev/null 2>&1 || fail "convert plain"
expect_output "train plain container" "epoch 30:" $pe train "$tmp/tiny.pmc" --data $d/tiny_x.npy \
  --labels $d/tiny_y.npy --epochs 30 --batch 8 --lr 0.1 --out "$tmp/trained.pmc"
expect_output "eval trained container" "accuracy 1.0000" $pe eval "$tmp/trained.pmc" --data $d/tiny_x.npy \
  --labels $d/tiny_y.npy
expect_error "container to onnx" "ExportContainer" $pe train "$tmp/tiny.pmc" --data $d/tiny_x.npy \
  --labels $d/tiny_y.npy --out "$tmp/x.onnx"
$pe convert $d/tiny.onnx "$tmp/enc.pmc" --encrypt --keystore-dir "$tmp/ks" > /dev/null 2>&1 || fail "convert encrypted"
expect_output "train encrypted container" "epoch 30:" $pe train "$tmp/enc.pmc" --keystore-dir "$tmp/ks" \
  --data $d/tiny_x.npy --labels $d/tiny_y.npy --epochs 30 --batch 8 --lr 0.1 --out "$tmp/enc_trained.pmc"
$pe inspect "$tmp/enc_trained.pmc" --keystore-dir "$tmp/ks" > "$tmp/inspect" 2>&1
grep -q "XChaCha20" "$tmp/inspect" || fail "the model trained from an encrypted container was not written encrypted"
expect_output "eval encrypted trained" "accuracy 1.0000" $pe eval "$tmp/enc_trained.pmc" \
  --keystore-dir "$tmp/ks" --data $d/tiny_x.npy --labels $d/tiny_y.npy
expect_error "encrypted container, other device" "" $pe eval "$tmp/enc.pmc" --keystore-dir "$tmp/ks_other" \
  --data $d/tiny_x.npy --labels $d/tiny_y.npy
# Examples kept encrypted in a secure store silo train exactly like the files they came from.
ks="--keystore software --keystore-dir $tmp/ks_store"
expect_output "import" "imported 60 examples (uint8 [2,2], uint8 labels)" $pe dataset import \
  "$tmp/store" tiny --data $d/tiny_u8.idx.gz --labels $d/tiny_y.idx $ks
silo_common="$d/tiny.onnx --batch 8 --lr 0.1 --seed 3 --epochs 3 --json"
$pe train $silo_common --data $d/tiny_u8.idx.gz --labels $d/tiny_y.idx > "$tmp/files.json" ||
  fail "train from files"
$pe train $silo_common --store "$tmp/store" --silo tiny --test-silo tiny $ks > "$tmp/silo.json" ||
  fail "train from the silo: $(cat "$tmp/silo.json")"
losses "$tmp/files.json" > "$tmp/want"
losses "$tmp/silo.json" > "$tmp/got"
[ -s "$tmp/want" ] && cmp -s "$tmp/want" "$tmp/got" ||
  fail "silo losses $(cat "$tmp/got") differ from the files' $(cat "$tmp/want")"
grep -q '"test_accuracy"' "$tmp/silo.json" || fail "--test-silo gave no test accuracy"
expect_output "eval silo" "accuracy" $pe eval $d/tiny.onnx --store "$tmp/store" --silo tiny $ks
expect_error "unknown silo" "nope" $pe train $silo_common --store "$tmp/store" --silo nope $ks
expect_error "silo on another device" "" $pe train $silo_common --store "$tmp/store" --silo tiny \
  --keystore software --keystore-dir "$tmp/ks_other"
expect_error "silo and data" "give one or the other" $pe train $silo_common --store "$tmp/store" \
  --silo tiny --data $d/tiny_x.npy $ks
expect_error "silo without store" "--silo needs --store" $pe train $silo_common --silo tiny $ks
expect_error "import without labels" "no labels" $pe dataset import "$tmp/store" t2 \
  --data $d/tiny_u8.idx.gz $ks
# Examples of another type and shape appended to the silo: refused when it is read, by position.
$pe dataset import "$tmp/store" tiny --data $d/tiny_x.npy --labels $d/tiny_y.npy $ks > /dev/null ||
  fail "second import"
expect_error "mixed examples" "record 60: example is float32 [4]" $pe train $silo_common \
  --store "$tmp/store" --silo tiny $ks

finish "train/eval CLI"

#!/bin/sh
# End-to-end checks of `privedge keys` with the software keystore in a temporary directory.
# usage: keys_test.sh PRIVEDGE
set -u
pe=$1
. "$(dirname "$0")/lib.sh"
export PRIVEDGE_HOME="$tmp/home"
unset PRIVEDGE_KEYSTORE_PASSPHRASE

expect_error "show before init" "privedge keys init" $pe keys show --keystore software
expect_output "init" "software" $pe keys init --keystore software
id1=$(awk '$1=="key" {print $3}' "$tmp/out")
[ ${#id1} -eq 16 ] || fail "init: key id '$id1' is not 16 hex digits"
mode=$(stat -c %a "$PRIVEDGE_HOME/keys/device-key.1")
[ "$mode" = 600 ] || fail "device key file mode $mode, expected 600"
expect_error "second init" "already exists" $pe keys init --keystore software
expect_output "show" "$id1" $pe keys show --keystore software
expect_output "export-public" "privedge-device-key-v1 software $id1" $pe keys export-public
expect_output "rotate" "$id1" $pe keys rotate
id2=$(awk '$1=="new" {print $4}' "$tmp/out")
[ -n "$id2" ] && [ "$id2" != "$id1" ] || fail "rotate: new key id '$id2' vs old '$id1'"
expect_output "show after rotate" "$id2" $pe keys show

# A passphrase-protected keystore in another directory.
printf 'a long passphrase\n' > "$tmp/pass"
printf 'another passphrase\n' > "$tmp/wrong"
expect_output "init with passphrase" "software" \
  $pe keys init --keystore software --keystore-dir "$tmp/pk" --passphrase-file "$tmp/pass"
expect_error "no passphrase" "passphrase" $pe keys show --keystore-dir "$tmp/pk"
expect_error "wrong passphrase" "wrong passphrase" \
  $pe keys show --keystore-dir "$tmp/pk" --passphrase-file "$tmp/wrong"
expect_output "right passphrase" "software" \
  $pe keys show --keystore-dir "$tmp/pk" --passphrase-file "$tmp/pass"
expect_error "missing passphrase file" "passphrase file" \
  $pe keys show --keystore-dir "$tmp/pk" --passphrase-file "$tmp/nope"

# The TPM 2.0 backend against a real swtpm on loopback.
command -v swtpm >/dev/null || { fail "swtpm missing: run scripts/install-deps.sh"; finish keys; }
mkdir -p "$tmp/tpmstate"
port=$((20000 + $$ % 20000))
swtpm socket --tpm2 --tpmstate dir="$tmp/tpmstate" --server type=tcp,port=$port,bindaddr=127.0.0.1 \
  --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear &
swtpm_pid=$!
trap 'kill $swtpm_pid 2>/dev/null; rm -rf "$tmp"' EXIT
tcti="swtpm:host=127.0.0.1,port=$port"
i=0
until $pe keys init --keystore tpm2 --keystore-dir "$tmp/tk" --tpm-tcti "$tcti" > "$tmp/out" 2> "$tmp/err"; do
  i=$((i + 1)); [ $i -lt 50 ] || { fail "tpm2 init: $(cat "$tmp/err")"; break; }; sleep 0.1
done
grep -qF tpm2 "$tmp/out" || fail "tpm2 init output lacks the backend"
tid1=$(awk '$1=="key" {print $3}' "$tmp/out")
expect_output "tpm2 show (auto picks tpm2)" "$tid1" $pe keys show --keystore-dir "$tmp/tk" --tpm-tcti "$tcti"
expect_output "tpm2 rotate" "$tid1" $pe keys rotate --keystore-dir "$tmp/tk" --tpm-tcti "$tcti"
expect_error "tpm2 init twice" "already exists" \
  $pe keys init --keystore tpm2 --keystore-dir "$tmp/tk" --tpm-tcti "$tcti"
# A model encrypted for this TPM runs with it, outputs identical to the .onnx, and is refused
# by the software keystore of the same user.
models=$(dirname "$0")/../data/models
$pe run "$models/lstm.onnx" "$models/lstm.input.npy" --output-dir "$tmp/o1" > /dev/null 2>&1 || fail "run lstm.onnx"
expect_output "tpm2 convert --encrypt" "encrypted" $pe convert "$models/lstm.onnx" "$tmp/lstm.pmc" --encrypt \
  --keystore tpm2 --keystore-dir "$tmp/tk" --tpm-tcti "$tcti"
$pe run "$tmp/lstm.pmc" "$models/lstm.input.npy" --output-dir "$tmp/o2" --keystore-dir "$tmp/tk" \
  --tpm-tcti "$tcti" > /dev/null 2>"$tmp/err" || fail "run tpm2-encrypted model: $(cat "$tmp/err")"
for f in "$tmp"/o1/*.npy; do cmp -s "$f" "$tmp/o2/$(basename "$f")" || fail "tpm2 container output differs"; done
expect_error "tpm2 model on another keystore" "model encrypted for keystore key" $pe run "$tmp/lstm.pmc" "$models/lstm.input.npy"
expect_error "tpm unreachable" "swtpm" \
  $pe keys show --keystore tpm2 --keystore-dir "$tmp/tk" --tpm-tcti "swtpm:host=127.0.0.1,port=1"

expect_output "publisher key pair" "" $pe keys publisher "$tmp/acme"
grep -q '^privedge-ed25519-public-v1 ' "$tmp/acme.pub" || fail "publisher: NAME.pub format"
[ "$(stat -c %a "$tmp/acme.key")" = 600 ] || fail "publisher: NAME.key is not 0600"

expect_error "bad backend" "expects auto, software or tpm2" $pe keys show --keystore hsm
expect_error "bad subcommand" "unknown subcommand" $pe keys frobnicate
expect_error "stray argument" "unexpected argument" $pe keys show extra
expect_output "help" "usage: privedge keys" $pe keys --help
finish keys

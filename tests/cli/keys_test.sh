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

expect_error "bad backend" "expects auto, software or tpm2" $pe keys show --keystore hsm
expect_error "bad subcommand" "unknown subcommand" $pe keys frobnicate
expect_error "stray argument" "unexpected argument" $pe keys show extra
expect_output "help" "usage: privedge keys" $pe keys --help
finish keys

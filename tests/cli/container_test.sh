#!/bin/sh
# End-to-end checks of model containers on the command line: convert, run/inspect/bench on a
# .pmc, bit-identical outputs, encryption bound to one keystore, no plaintext weight bytes in
# any file an encrypted convert + run writes, and signatures (sign, verify, --require-signed).
# usage: container_test.sh PRIVEDGE SOURCE_DIR
set -u
pe=$1 src=$2
model=$src/tests/data/models/resnet18_2stages.onnx
input=$src/tests/data/models/resnet18_2stages.input.npy
. "$(dirname "$0")/lib.sh"

# A root for everything the encrypted steps may write: TMPDIR, HOME, PRIVEDGE_HOME, outputs.
root=$tmp/root
mkdir -p "$root/tmp" "$root/home" "$root/pehome" "$root/out"
touch "$tmp/marker"
sleep 1

# --- plain container: convert, inspect, run, bench; outputs identical to the .onnx --------
expect_output "convert" "encrypted: no" $pe convert "$model" "$tmp/plain.pmc"
expect_output "inspect shows the header" "container: privedge model container v1" $pe inspect "$tmp/plain.pmc"
expect_output "inspect shows the model" "nodes:" $pe inspect "$tmp/plain.pmc"
$pe run "$model" "$input" --output-dir "$tmp/out_onnx" > /dev/null 2>&1 || fail "run .onnx"
$pe run "$tmp/plain.pmc" "$input" --output-dir "$tmp/out_plain" > /dev/null 2>&1 || fail "run .pmc"
for f in "$tmp"/out_onnx/*.npy; do
  cmp -s "$f" "$tmp/out_plain/$(basename "$f")" || fail "plain container output $(basename "$f") differs from the .onnx run"
done
expect_output "bench a container" '"load_ms"' $pe bench "$tmp/plain.pmc" --runs 1 --warmup 0 --threads 1 --json
cp "$tmp/plain.pmc" "$tmp/renamed.onnx"
expect_output "detection by content, not name" "container:" $pe inspect "$tmp/renamed.onnx"
expect_error "convert a container" "already a privedge container" $pe convert "$tmp/plain.pmc" "$tmp/x.pmc"
# Hostile bodies: a graph section larger than the body, a tensor record pointing outside the
# weights section (the first initializer's offset, found by the unit tests' layout).
cp "$tmp/plain.pmc" "$tmp/huge.pmc"
printf '\377\377\377\377' | dd of="$tmp/huge.pmc" bs=1 seek=4100 conv=notrunc 2> /dev/null
expect_error "graph section past the body" "exceeds the body" $pe run "$tmp/huge.pmc" "$input"
expect_error "hostile body in inspect" "container body" $pe inspect "$tmp/huge.pmc"
head -c 5000 "$tmp/plain.pmc" > "$tmp/short.pmc"
expect_error "truncated container" "does not match the file size" $pe run "$tmp/short.pmc" "$input"

# --- encrypted: only the keystore that encrypted it can load it ----------------------------
(
  export TMPDIR=$root/tmp HOME=$root/home PRIVEDGE_HOME=$root/pehome
  $pe convert "$model" "$root/out/enc.pmc" --encrypt > "$tmp/convert.out" 2>&1 || { echo "convert --encrypt failed" >&2; cat "$tmp/convert.out" >&2; exit 1; }
  $pe run "$root/out/enc.pmc" "$input" --output-dir "$root/out/enc_out" > /dev/null 2> "$tmp/run.err" || { echo "encrypted run failed" >&2; cat "$tmp/run.err" >&2; exit 1; }
  $pe bench "$root/out/enc.pmc" --runs 1 --warmup 0 --threads 1 > /dev/null 2>&1 || { echo "encrypted bench failed" >&2; exit 1; }
  $pe inspect "$root/out/enc.pmc" > "$tmp/inspect_enc.out" 2>&1 || { echo "encrypted inspect failed" >&2; exit 1; }
) || fail "encrypted convert/run/bench/inspect under a fresh PRIVEDGE_HOME"
grep -qF "XChaCha20-Poly1305" "$tmp/inspect_enc.out" || fail "inspect does not show the encryption"
for f in "$tmp"/out_onnx/*.npy; do
  cmp -s "$f" "$root/out/enc_out/$(basename "$f")" || fail "encrypted container output $(basename "$f") differs from the .onnx run"
done
# Another keystore (another device): refused, naming both key ids.
$pe convert "$src/tests/data/models/lstm.onnx" "$tmp/other.pmc" --encrypt --keystore-dir "$tmp/ks_b" > /dev/null 2>&1 || fail "convert for keystore B"
expect_error "another device's keystore" "model encrypted for keystore key" \
  $pe run "$root/out/enc.pmc" "$input" --keystore-dir "$tmp/ks_b"
expect_error "no keystore at all" "no device key" \
  $pe run "$root/out/enc.pmc" "$input" --keystore-dir "$tmp/ks_none"

# --- no plaintext weight bytes in any file written by the encrypted steps --------------------
# 400 distinct 32-byte windows of the weights section of the plain container (its body after
# the graph section), skipping low-entropy windows (zeros, repeated values).
python3 - "$tmp/plain.pmc" "$root" "$tmp/marker" <<'EOF' || fail "plaintext weight bytes found on disk"
import os, random, struct, sys
data = open(sys.argv[1], "rb").read()
body = data[4096:]
graph = struct.unpack("<Q", body[:8])[0]
start = (8 + graph + 63) // 64 * 64
weights = body[start:]
rng = random.Random(7)
samples = set()
while len(samples) < 400:
    off = rng.randrange(0, len(weights) - 32)
    w = weights[off:off + 32]
    if len(set(w)) >= 20:
        samples.add(w)
marker = os.stat(sys.argv[3]).st_mtime
files = []
for top in (sys.argv[2],):
    for d, _, names in os.walk(top):
        files += [os.path.join(d, n) for n in names]
# New files in /tmp too, except this test's own folder (it holds the plain container) and
# the unit tests' folders.
for d, dirs, names in os.walk("/tmp"):
    dirs[:] = [x for x in dirs if not os.path.join(d, x).startswith(os.path.dirname(sys.argv[1]))
               and not x.startswith(("pe_container_", "pe_model_file_", "bash_jobs"))]
    for n in names:
        p = os.path.join(d, n)
        try:
            if os.path.isfile(p) and not os.path.islink(p) and os.stat(p).st_mtime >= marker:
                files.append(p)
        except OSError:
            pass
bad = []
scanned = 0
for p in files:
    try:
        blob = open(p, "rb").read()
    except OSError:
        continue
    scanned += 1
    if any(s in blob for s in samples):
        bad.append(p)
# The check can fail: the plain container itself does hold the samples.
assert any(s in data for s in samples)
if bad:
    print("plaintext weights in: " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
print(f"scanned {scanned} files, no plaintext weight window found")
EOF

# --- signatures -----------------------------------------------------------------------------
cd "$tmp" || exit 1
expect_output "publisher key pair" "wrote pub.key" $pe sign --new-key pub
expect_output "second key pair" "wrote other.key" $pe sign --new-key other
[ "$(stat -c %a pub.key)" = 600 ] || fail "secret key file mode is not 0600"
expect_error "no overwrite of keys" "refusing to overwrite" $pe sign --new-key pub
cp plain.pmc signed.pmc
expect_error "unsigned rejected" "not signed" $pe run signed.pmc "$input" --require-signed pub.pub
expect_error "verify unsigned" "not signed" $pe verify signed.pmc --pubkey pub.pub
expect_output "sign" "signed signed.pmc" $pe sign signed.pmc --key other.key
expect_error "signed by another key" "not by the required key" $pe run signed.pmc "$input" --require-signed pub.pub
expect_output "re-sign" "signed signed.pmc" $pe sign signed.pmc --key pub.key
expect_output "verify" "OK: signed.pmc signed by" $pe verify signed.pmc --pubkey pub.pub
expect_output "run signed" "output" $pe run signed.pmc "$input" --require-signed pub.pub
hex=$(cut -d' ' -f2 pub.pub)
expect_output "hex public key" "output" $pe run signed.pmc "$input" --require-signed "$hex"
expect_output "inspect shows the signer" "by Ed25519 key $hex" $pe inspect signed.pmc
expect_error "onnx under --require-signed" "cannot be signed" $pe run "$model" "$input" --require-signed pub.pub
# Altered after signing: one byte near the end of the body.
cp signed.pmc altered.pmc
size=$(stat -c %s altered.pmc)
printf '\001' | dd of=altered.pmc bs=1 seek=$((size - 100)) conv=notrunc 2> /dev/null
expect_error "altered rejected" "does not match the signed content digest" $pe run altered.pmc "$input" --require-signed pub.pub
expect_error "verify altered" "does not match" $pe verify altered.pmc
# Encrypted and signed: sign rewrites only ciphertext; the run still needs the right keystore.
cp "$root/out/enc.pmc" enc_signed.pmc
expect_output "sign encrypted" "signed enc_signed.pmc" $pe sign enc_signed.pmc --key pub.key
expect_output "run encrypted signed" "output" env PRIVEDGE_HOME="$root/pehome" $pe run enc_signed.pmc "$input" --require-signed pub.pub
expect_output "convert --sign" "signed: by Ed25519 key $hex" $pe convert "$model" conv_signed.pmc --sign pub.key

finish container

#!/bin/sh
# Runs an ONNX backend suite and fails if any test listed in EXPECTED does not pass.
# usage: check.sh PRIVEDGE SUITE_DIR EXPECTED_LIST
set -u
privedge=$1 suite=$2 expected=$3
if [ ! -d "$suite" ]; then
  echo "check: test data folder $suite is missing (install Debian's libonnx-testdata: make deps)" >&2
  exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$privedge" conformance "$suite" --quiet --json "$out/result.json" > "$out/summary.txt"
cat "$out/summary.txt"
grep -o '"name": "[^"]*", "result": "passed"' "$out/result.json" | cut -d'"' -f4 | sort > "$out/passed"
sort "$expected" | grep -v '^#' | grep -v '^$' > "$out/expected"
missing=$(comm -23 "$out/expected" "$out/passed")
if [ -n "$missing" ]; then
  echo "check: these tests are expected to pass but did not:" >&2
  for t in $missing; do
    grep -o "\"name\": \"$t\", \"result\": \"[a-z]*\", \"reason\": \"[^\"]*\"" "$out/result.json" >&2
  done
  exit 1
fi
new=$(comm -13 "$out/expected" "$out/passed" | wc -l)
echo "check: all $(wc -l < "$out/expected") expected tests pass ($new more pass than listed)"

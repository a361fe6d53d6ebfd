# Shared helpers of the command-line test scripts; source it after setting `pe`.
# Provides $tmp (removed on exit), fail, expect_error, expect_output and finish.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_error DESCRIPTION TEXT COMMAND...: exit 1 (an error, not a crash or a signal), and
# exactly one stderr line containing TEXT (a fixed string).
expect_error() {
  desc=$1 pattern=$2; shift 2
  "$@" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  if [ $rc -eq 0 ]; then fail "$desc: exit 0, expected an error"; return; fi
  if [ $rc -ge 128 ]; then fail "$desc: killed by signal $((rc - 128))"; return; fi
  if [ $rc -ne 1 ]; then fail "$desc: exit $rc, expected 1"; return; fi
  lines=$(wc -l < "$tmp/err")
  if [ "$lines" -ne 1 ]; then fail "$desc: expected one error line, got $lines:"; cat "$tmp/err" >&2; return; fi
  grep -qF -- "$pattern" "$tmp/err" || { fail "$desc: error does not mention '$pattern':"; cat "$tmp/err" >&2; }
}

# expect_output DESCRIPTION TEXT COMMAND...: exit 0 and stdout containing TEXT.
expect_output() {
  desc=$1 pattern=$2; shift 2
  if ! "$@" > "$tmp/out" 2> "$tmp/err"; then fail "$desc: exit non-zero:"; cat "$tmp/err" >&2; return; fi
  grep -qF -- "$pattern" "$tmp/out" || { fail "$desc: output lacks '$pattern':"; cat "$tmp/out" >&2; }
}

# finish WHAT: the script's verdict and exit status.
finish() {
  if [ $failures -ne 0 ]; then echo "$failures $1 checks failed" >&2; exit 1; fi
  echo "all $1 checks passed"
}

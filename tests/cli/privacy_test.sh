#!/bin/sh
# End-to-end checks of `privedge privacy`: the published reference values, JSON output, and bad
# input giving one clear line and exit 1.
# usage: privacy_test.sh PRIVEDGE
set -u
pe=$1
. "$(dirname "$0")/lib.sh"



eps="$pe privacy epsilon"
# Opacus's RDP accountant test (improved conversion) and TF Privacy's compute_dp_sgd_privacy.
expect_output "opacus value" "epsilon: 7.32911" \
  $eps --sampling-rate 0.04 --noise-multiplier 1.5 --steps 2250 --delta 1e-5
expect_output "optimal order" "optimal order: 3.9" \
  $eps --sampling-rate 0.04 --noise-multiplier 1.5 --steps 2250 --delta 1e-5 --verbose
expect_output "tf privacy value" "epsilon: 0.724223" \
  $eps --sampling-rate 0.0025 --noise-multiplier 1.3 --steps 6000 --delta=1e-5
expect_output "classic conversion" "epsilon: 0.941871" \
  $eps --sampling-rate 0.0025 --noise-multiplier 1.3 --steps 6000 --delta 1e-5 --conversion classic
expect_output "epsilon json" '"order": 19,' \
  $eps --sampling-rate 0.0025 --noise-multiplier 1.3 --steps 6000 --delta 1e-5 --json
expect_output "epsilon json value" '"epsilon": 0.7242234026' \
  $eps --sampling-rate 0.0025 --noise-multiplier 1.3 --steps 6000 --delta 1e-5 --json
expect_output "analytic sigma" "sigma: 3.73063" $pe privacy sigma --epsilon 1 --delta 1e-5
expect_output "analytic sigma json" '"sigma": 3.7306' $pe privacy sigma --epsilon 1 --delta 1e-5 --json
expect_output "noise multiplier" "noise multiplier: 1.5" \
  $pe privacy sigma --epsilon 7.32911117143 --delta 1e-5 --sampling-rate 0.04 --steps 2250
expect_output "help" "usage: privedge privacy" $pe privacy --help
expect_output "listed in main usage" "privacy" $pe --help

# Bad input.
expect_error "q zero" "--sampling-rate expects a number in (0, 1], got '0'" \
  $eps --sampling-rate 0 --noise-multiplier 1 --steps 10 --delta 1e-5
expect_error "q above one" "--sampling-rate" \
  $eps --sampling-rate 1.5 --noise-multiplier 1 --steps 10 --delta 1e-5
expect_error "z zero" "--noise-multiplier" \
  $eps --sampling-rate 0.1 --noise-multiplier 0 --steps 10 --delta 1e-5
expect_error "z negative" "--noise-multiplier" \
  $eps --sampling-rate 0.1 --noise-multiplier -2 --steps 10 --delta 1e-5
expect_error "delta one" "--delta expects a number in (0, 1)" \
  $eps --sampling-rate 0.1 --noise-multiplier 1 --steps 10 --delta 1
expect_error "delta zero" "--delta" $eps --sampling-rate 0.1 --noise-multiplier 1 --steps 10 --delta 0
expect_error "not a number" "got 'abc'" \
  $eps --sampling-rate abc --noise-multiplier 1 --steps 10 --delta 1e-5
expect_error "trailing junk" "got '0.1x'" \
  $eps --sampling-rate 0.1x --noise-multiplier 1 --steps 10 --delta 1e-5
expect_error "nan" "got 'nan'" $eps --sampling-rate nan --noise-multiplier 1 --steps 10 --delta 1e-5
expect_error "steps zero" "--steps" $eps --sampling-rate 0.1 --noise-multiplier 1 --steps 0 --delta 1e-5
expect_error "steps fraction" "--steps" \
  $eps --sampling-rate 0.1 --noise-multiplier 1 --steps 2.5 --delta 1e-5
expect_error "missing delta" "missing --delta" $eps --sampling-rate 0.1 --noise-multiplier 1 --steps 10
expect_error "bad conversion" "--conversion" \
  $eps --sampling-rate 0.1 --noise-multiplier 1 --steps 10 --delta 1e-5 --conversion fast
expect_error "sigma epsilon zero" "--epsilon" $pe privacy sigma --epsilon 0 --delta 1e-5
expect_error "sigma half accountant" "go together" $pe privacy sigma --epsilon 1 --delta 1e-5 --steps 10
expect_error "no action" "expected one action" $pe privacy
expect_error "unknown action" "unknown action 'spend'" $pe privacy spend
expect_error "unknown option" "unknown option" $pe privacy epsilon --bogus 1

finish "privacy CLI"

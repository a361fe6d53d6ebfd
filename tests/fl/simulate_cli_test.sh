#!/bin/sh
# End-to-end checks of `privedge simulate` on a small slice of Fashion-MNIST: the table, JSON,
# the PNG plot, determinism from the seed, and bad options giving one clear line and exit 1.
# usage: simulate_cli_test.sh PRIVEDGE SOURCE_DIR
set -u
pe=$1
. "$2/tests/cli/lib.sh"

sim="$pe simulate --train-limit 3000 --test-limit 500 --clients 10 --rounds 2 --fraction 0.5"
expect_output "table" "test_acc%" $sim --seed 4 --json "$tmp/a.json" --plot "$tmp/a.png"
grep -q "^2 " "$tmp/out" || fail "table lacks round 2"
digest_a=$(grep "final model" "$tmp/out")
grep -q '"participants": 5' "$tmp/a.json" || fail "json lacks participants"
grep -q '"task_failed": false' "$tmp/a.json" || fail "json lacks task_failed"
[ "$(head -c 8 "$tmp/a.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "plot is not a PNG"
expect_output "same seed" "final model" $sim --seed 4 --plot none
[ "$(grep "final model" "$tmp/out")" = "$digest_a" ] || fail "same seed gave another model"
expect_output "other seed" "final model" $sim --seed 5 --plot none
[ "$(grep "final model" "$tmp/out")" != "$digest_a" ] || fail "another seed gave the same model"
expect_output "attackers and robust strategy" "test_acc%" \
  $sim --seed 4 --plot none --byzantine 0.2 --attack signflip --strategy trimmedmean --trim-beta 0.2
expect_output "dropout" "rejected.round_closed" $sim --seed 4 --plot none --dropout 0.4 --partition dirichlet:0.5

expect_output "central dp reports epsilon" "epsilon " $sim --seed 4 --plot none --dp central --dp-noise 1
expect_output "fedbuff" "test_acc%" $sim --seed 4 --plot none --async-buffer 2 --max-staleness 1
expect_output "distributed dp" "differential privacy (distributed" \
  $sim --seed 4 --plot none --dp distributed --noise-multiplier 1 --json "$tmp/d.json"
grep -q '"mode": "distributed"' "$tmp/d.json" || fail "json lacks the dp block"
# Epsilon after 2 rounds at q = 5/10, z = 1 is what `privacy epsilon` reports for the same.
sim_eps=$(sed -n 's/.*"accounting_noise_multiplier": 1, "epsilon": \([0-9.]*\),.*/\1/p' "$tmp/d.json")
pe_eps=$($pe privacy epsilon --sampling-rate 0.5 --noise-multiplier 1 --steps 2 --delta 1e-5 | sed -n 's/^epsilon: //p')
awk -v a="$sim_eps" -v b="$pe_eps" 'BEGIN { exit !(a != "" && (a - b) * (a - b) < 1e-8 * b * b) }' ||
  fail "simulate epsilon '$sim_eps' differs from privacy epsilon '$pe_eps'"
expect_output "local dp" "per device" $sim --seed 4 --plot none --dp local --clip 0.5 --noise-multiplier 2
expect_output "budget stop" "stopped: privacy budget" \
  $sim --seed 4 --plot none --rounds 6 --dp central --noise-multiplier 1 --target-epsilon 4
expect_output "adaptive clipping" "adaptive" $sim --seed 4 --plot none --dp central --adaptive-clip 0.5 --noise-multiplier 0.1
expect_output "noise for a budget" "z = " $sim --seed 4 --plot none --dp central --target-epsilon 8
expect_output "secure aggregation" "secagg.completed=2" \
  $sim --seed 4 --plot none --secure-aggregation secaggplus --json "$tmp/s.json"
grep -q '"secure_aggregation": "secaggplus"' "$tmp/s.json" || fail "json lacks secure_aggregation"
expect_output "secure aggregation with dropouts at masked input" "secagg.sessions=" \
  $sim --seed 4 --plot none --secure-aggregation secagg --dropout 0.3 --secagg-drop-stage 2
expect_output "secure aggregation with distributed dp" "differential privacy (distributed" \
  $sim --seed 4 --plot none --secure-aggregation secagg --dp distributed --noise-multiplier 1 \
  --over-selection 1
expect_error "secure dp needs the exact cohort" "over_selection = 1" \
  $sim --seed 4 --plot none --secure-aggregation secagg --dp distributed
expect_error "secure aggregation refuses krum" "needs each device's update" \
  $sim --secure-aggregation secaggplus --strategy krum --plot none
expect_error "secure aggregation refuses central dp" "dp_mode = distributed" \
  $sim --secure-aggregation secagg --dp central --plot none
expect_error "bad secure aggregation" "off, secagg or secaggplus" $sim --secure-aggregation maybe
expect_error "bad drop stage" "--secagg-drop-stage" $sim --secure-aggregation secagg --secagg-drop-stage 4
expect_error "bad dp" "--dp expects central, local or distributed" $sim --dp foo
expect_error "adaptive needs central" "adaptive clipping needs dp_mode central" \
  $sim --dp local --adaptive-clip 0.5 --plot none
expect_error "dp with another strategy" "aggregates with dpfedavg" $sim --dp central --strategy krum
expect_error "bad partition" "partition must be iid" $sim --partition zipf --plot none
expect_error "bad strategy" "unknown strategy 'fedsgd'" $sim --strategy fedsgd
expect_error "bad fraction" "--fraction expects a number" $pe simulate --fraction 2
expect_error "bad attack" "attack must be scale or signflip" $sim --attack poison --plot none
expect_error "bad dataset" "fashion-mnist only" $pe simulate --dataset cifar10
expect_error "missing data" "cannot open" $pe simulate --data-dir "$tmp/none"
expect_error "too many shards" "shards:2 needs" $pe simulate --train-limit 3000 --test-limit 10 \
  --partition shards:2 --clients 2000 --plot none
expect_error "missing model" "none.onnx" $sim --model "$tmp/none.onnx" --plot none
expect_error "model input does not fit" "must be float32 [N, 784]" \
  $sim --model "$2/tests/data/train/tiny.onnx" --plot none
expect_error "bad momentum" "--momentum expects a number" $sim --momentum 1.5
expect_error "bad threads" "threads" $sim --threads 0
expect_output "help" "usage: privedge simulate" $pe simulate --help
expect_output "listed in main usage" "simulate" $pe --help
finish simulate

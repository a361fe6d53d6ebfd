#!/bin/sh
# Federated Fashion-MNIST (the built-in linear model) over loopback gRPC with mutual TLS 1.3
# (INSECURE=1: plaintext): one `privedge server`
# and CLIENTS `privedge client` processes, run on the same data and task with secure
# aggregation off and with MODE (secagg or secaggplus), REPEATS times each (alternating);
# prints every final test accuracy (10,000 test images) and the mean of each mode. Each client
# holds 300 distinct training examples; 10 devices are selected per round (over_selection 1,
# so both modes aggregate the same number of updates). DROPOUT makes each selected device go
# silent for its round with that probability (before training, so under secure aggregation it
# never advertises keys and the stage deadline closes stage 0).
#   [DEADLINE_MS=30000] sh bench/secagg_fleet.sh build/privedge [MODE] [CLIENTS] [ROUNDS] \
#     [DROPOUT] [REPEATS]
set -eu
BIN=$(realpath "$1"); MODE=${2:-secaggplus}; CLIENTS=${3:-20}; ROUNDS=${4:-30}; DROPOUT=${5:-0}
REPEATS=${6:-1}; DEADLINE_MS=${DEADLINE_MS:-30000}  # round deadline
INSECURE=${INSECURE:-0}
DATA=/usr/share/datasets/fashion-mnist
WORK=$(mktemp -d)
trap 'for p in $(cat "$WORK"/pids 2>/dev/null); do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

run() {  # $1: off | secagg | secaggplus, $2: repetition
  dir="$WORK/$1.$2"; mkdir -p "$dir"
  port=$((20000 + ($$ + $(echo "$1" | wc -c) * 97 + $2 * 13) % 30000))
  cat > "$dir/task.conf" <<CONF
task_id = fleet
num_params = 7850
rounds = $ROUNDS
clients_per_round = 10
over_selection = 1
min_clients = 5
round_deadline_ms = $DEADLINE_MS
training.local_epochs = 1
training.batch_size = 10
training.learning_rate = 0.05
secure_aggregation = $1
secagg.clip = 1
secagg.stage_timeout_ms = 3000
CONF
  "$BIN" server enroll-token --state "$dir/state" --count "$CLIENTS" > "$dir/tokens"
  start=$(date +%s)
  if [ "$INSECURE" = 1 ]; then tls_server="--insecure"; else tls_server=""; fi
  "$BIN" server --config "$dir/task.conf" --state "$dir/state" --listen 127.0.0.1:$port \
    $tls_server --linger-ms 3000 --eval-data $DATA/t10k-images-idx3-ubyte.gz \
    --eval-labels $DATA/t10k-labels-idx1-ubyte.gz > "$dir/server.log" 2>&1 &
  server=$!
  i=0
  : > "$dir/pids"
  while read -r token; do
    i=$((i + 1))
    if [ "$INSECURE" = 1 ]; then tls_client="--insecure"
    else tls_client="--ca $dir/state/tls/ca.crt --identity $dir/id$i --keystore software"
         tls_client="$tls_client --keystore-dir $dir/keys$i"; fi
    "$BIN" client --server 127.0.0.1:$port $tls_client --device-id "dev-$i" --token "$token" \
      --data $DATA/train-images-idx3-ubyte.gz --labels $DATA/train-labels-idx1-ubyte.gz \
      --offset $((i * 300)) --limit 300 --dropout "$DROPOUT" --poll-ms 300 --max-run-s 900 \
      > "$dir/client$i.log" 2>&1 &
    echo $! >> "$dir/pids"
  done < "$dir/tokens"
  cp "$dir/pids" "$WORK/pids"
  wait $server || { cat "$dir/server.log"; echo "server failed ($1)"; exit 1; }
  for p in $(cat "$dir/pids"); do wait "$p" || { echo "a client failed ($1)"; exit 1; }; done
  secs=$(( $(date +%s) - start ))
  acc=$(sed -n 's/.*test accuracy \([0-9.]*\).*/\1/p' "$dir/server.log")
  sessions=$(sed -n 's/^secagg.completed = //p' "$dir/server.log")
  aborted=$(sed -n 's/^secagg.aborted = //p' "$dir/server.log")
  echo "secure_aggregation=$1: final test accuracy $acc after $ROUNDS rounds, $secs s" \
       "(secagg sessions completed ${sessions:-0}, aborted ${aborted:-0})"
  echo "$acc" >> "$WORK/acc.$1"
}

r=0
while [ $r -lt "$REPEATS" ]; do
  r=$((r + 1))
  run off $r
  run "$MODE" $r
done
awk -v m="$MODE" 'FNR == 1 { f++ } { s[f] += $1; n[f]++ } END {
  a = s[1] / n[1] * 100; b = s[2] / n[2] * 100; d = b - a;
  printf "mean over %d runs: off %.2f%%, %s %.2f%%: %+.2f points (%s)\n", n[1], a, m, b, d,
         (d < 1 && d > -1) ? "within 1 point" : "MORE than 1 point" }' "$WORK/acc.off" "$WORK/acc.$MODE"

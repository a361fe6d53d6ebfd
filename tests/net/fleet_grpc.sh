#!/bin/sh
# 20 `privedge client` processes against one `privedge server` over loopback gRPC, 30% of the
# selected devices dropping out each round; the server is SIGKILLed mid-run and restarted from
# its state dir. Not part of the default test run (about a minute on 2 cores).
#   sh tests/net/fleet_grpc.sh build/privedge [CLIENTS] [DROPOUT] [ROUNDS]
set -eu
BIN=$(realpath "$1"); CLIENTS=${2:-20}; DROPOUT=${3:-0.3}; ROUNDS=${4:-5}
DATA=/usr/share/datasets/fashion-mnist
WORK=$(mktemp -d); trap 'kill $(cat "$WORK"/pids 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$((20000 + $$ % 30000))
cat > "$WORK/task.conf" <<CONF
task_id = fleet
num_params = 7850
rounds = $ROUNDS
clients_per_round = 10
over_selection = 1.5
min_clients = 5
round_deadline_ms = 4000
training.local_epochs = 1
training.batch_size = 10
training.learning_rate = 0.05
CONF
"$BIN" server enroll-token --state "$WORK/state" --count "$CLIENTS" > "$WORK/tokens"
start=$(date +%s)
"$BIN" server --config "$WORK/task.conf" --state "$WORK/state" --listen 127.0.0.1:$PORT \
  --insecure --linger-ms 3000 > "$WORK/server1.log" 2>&1 &
SERVER=$!
i=0
while read -r token; do
  i=$((i + 1))
  "$BIN" client --server 127.0.0.1:$PORT --insecure --device-id "dev-$i" --token "$token" \
    --data $DATA/train-images-idx3-ubyte.gz --labels $DATA/train-labels-idx1-ubyte.gz \
    --offset $((i * 300)) --limit 300 --dropout "$DROPOUT" --poll-ms 300 --max-run-s 300 \
    > "$WORK/client$i.log" 2>&1 &
  echo $! >> "$WORK/pids"
done < "$WORK/tokens"
# Kill the server once round 2 is under way, restart it from the same state.
sleep 6
kill -9 $SERVER; wait $SERVER 2>/dev/null || true
echo "server SIGKILLed after $(( $(date +%s) - start )) s"
"$BIN" server --config "$WORK/task.conf" --state "$WORK/state" --listen 127.0.0.1:$PORT \
  --insecure --linger-ms 3000 > "$WORK/server2.log" 2>&1
echo "task finished after $(( $(date +%s) - start )) s"
for p in $(cat "$WORK/pids"); do wait "$p" || { echo "a client failed"; exit 1; }; done
cat "$WORK/server2.log"
echo "clients: $(cat "$WORK"/client*.log | grep -c 'task over') of $CLIENTS saw the task end;" \
     "$(cat "$WORK"/client*.log | grep -c 'simulated dropout') dropout events"

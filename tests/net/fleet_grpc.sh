#!/bin/sh
# 20 `privedge client` processes against one `privedge server` over loopback gRPC, 30% of the
# selected devices dropping out each round; the server is SIGKILLed mid-run and restarted from
# its state dir. Mutual TLS 1.3 by default: each device enrolls with its own token, pins the
# CA and keeps its key sealed by its own software keystore. After the restart a device reuses
# a spent token, and a TLS 1.2 handshake is tried (openssl s_client): both must be refused.
# Not part of the default test run (about half a minute on 2 cores).
#   sh tests/net/fleet_grpc.sh build/privedge [--insecure] [CLIENTS] [DROPOUT] [ROUNDS]
set -eu
BIN=$(realpath "$1"); shift
MODE=tls
if [ "${1:-}" = "--insecure" ]; then MODE=insecure; shift; fi
CLIENTS=${1:-20}; DROPOUT=${2:-0.3}; ROUNDS=${3:-5}
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
SERVER_FLAGS=""; [ $MODE = insecure ] && SERVER_FLAGS="--insecure"
"$BIN" server enroll-token --state "$WORK/state" --count "$CLIENTS" > "$WORK/tokens" 2>/dev/null
CA="$WORK/state/tls/ca.crt"
# Device i's transport flags: TLS enrollment (token, pinned CA, identity, own keystore).
client_flags() {
  if [ $MODE = insecure ]; then echo "--insecure --device-id dev-$1 --token $2"; else
    echo "--identity $WORK/id$1 --keystore software --keystore-dir $WORK/ks$1 --device-id dev-$1" \
         "--token $2 --ca $CA"; fi
}
start=$(date +%s)
"$BIN" server --config "$WORK/task.conf" --state "$WORK/state" --listen 127.0.0.1:$PORT \
  $SERVER_FLAGS --linger-ms 3000 > "$WORK/server1.log" 2>&1 &
SERVER=$!
i=0
while read -r token; do
  i=$((i + 1))
  # shellcheck disable=SC2046
  "$BIN" client --server 127.0.0.1:$PORT $(client_flags $i "$token") \
    --data $DATA/train-images-idx3-ubyte.gz --labels $DATA/train-labels-idx1-ubyte.gz \
    --offset $((i * 300)) --limit 300 --dropout "$DROPOUT" --poll-ms 300 --max-run-s 300 \
    > "$WORK/client$i.log" 2>&1 &
  echo $! >> "$WORK/pids"
done < "$WORK/tokens"
# Kill the server once every device enrolled and round 2 is under way (rounds take about two
# seconds here); restart it from the same state.
enrolled() { grep -l "enrolled as" "$WORK"/client*.log 2>/dev/null | wc -l; }
while [ "$(enrolled)" -lt "$CLIENTS" ] && [ $(( $(date +%s) - start )) -lt 60 ]; do sleep 0.2; done
sleep 3
kill -9 $SERVER; wait $SERVER 2>/dev/null || true
echo "server SIGKILLed after $(( $(date +%s) - start )) s, $(enrolled) devices enrolled"
"$BIN" server --config "$WORK/task.conf" --state "$WORK/state" --listen 127.0.0.1:$PORT \
  $SERVER_FLAGS --linger-ms 3000 > "$WORK/server2.log" 2>&1 &
SERVER=$!
if [ $MODE = tls ]; then
  sleep 1
  # A spent token (device 1's) for a new device: refused and counted.
  if "$BIN" client --server 127.0.0.1:$PORT $(client_flags 99 "$(head -n1 "$WORK/tokens")") \
       --data $DATA/train-images-idx3-ubyte.gz --labels $DATA/train-labels-idx1-ubyte.gz \
       --limit 10 --max-run-s 5 > "$WORK/reuse.log" 2>&1; then
    echo "a spent token was accepted"; exit 1
  fi
  echo "token reuse: $(tail -n1 "$WORK/reuse.log")"
  if command -v openssl > /dev/null; then
    if echo | openssl s_client -connect 127.0.0.1:$PORT -tls1_2 > "$WORK/tls12.log" 2>&1; then
      echo "the server accepted TLS 1.2"; exit 1
    fi
    echo "TLS 1.2 handshake refused: $(grep -o -E 'alert [a-z ]+|unexpected eof|wrong version number' "$WORK/tls12.log" | head -n1)"
    echo | openssl s_client -connect 127.0.0.1:$PORT -tls1_3 -CAfile "$CA" 2>/dev/null |
      grep -E '^(New, |Verify return code)' | sed 's/^/TLS 1.3: /'
  fi
fi
wait $SERVER
echo "task finished after $(( $(date +%s) - start )) s ($MODE)"
for p in $(cat "$WORK/pids"); do wait "$p" || { echo "a client failed"; exit 1; }; done
cat "$WORK/server2.log"
echo "clients: $(cat "$WORK"/client*.log | grep -c 'task over') of $CLIENTS saw the task end;" \
     "$(cat "$WORK"/client*.log | grep -c 'simulated dropout') dropout events;" \
     "$(cat "$WORK"/client*.log | grep -c 'models refused') devices refused a model"

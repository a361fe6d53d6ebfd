#!/bin/sh
# `privedge server` and `privedge client` processes with secure aggregation on, over mutual
# TLS: devices enroll once and keep their identity in --identity DIR (its key, which also signs
# their SecAgg keys, wrapped by a software keystore); devices restarted without a new token
# still take part; the server refuses a task whose strategy needs individual updates; a client
# without the identity's keystore cannot unwrap it; an --insecure device keeps its sealed
# signing key in --identity DIR too.
# usage: secagg_cli_test.sh PRIVEDGE SOURCE_DIR
set -u
pe=$1
. "$2/tests/cli/lib.sh"
DATA=/usr/share/datasets/fashion-mnist
export PRIVEDGE_HOME="$tmp/home"
port=$((21000 + $$ % 20000))
cat > "$tmp/task.conf" <<CONF
task_id = secli
num_params = 7850
rounds = 2
clients_per_round = 3
over_selection = 1
min_clients = 3
round_deadline_ms = 30000
secure_aggregation = secaggplus
secagg.stage_timeout_ms = 5000
CONF
client() {  # device number, then extra options
  n=$1; shift
  "$pe" client --server 127.0.0.1:$port --device-id "dev-$n" --ca "$tmp/state/tls/ca.crt" \
    --identity "$tmp/id$n" --keystore software --keystore-dir "$tmp/keys$n" \
    --data $DATA/t10k-images-idx3-ubyte.gz --labels $DATA/t10k-labels-idx1-ubyte.gz \
    --offset $((n * 100)) --limit 100 --poll-ms 50 "$@"
}
"$pe" server enroll-token --state "$tmp/state" --count 3 > "$tmp/tokens"
"$pe" server --config "$tmp/task.conf" --state "$tmp/state" --listen 127.0.0.1:$port \
  --linger-ms 1500 > "$tmp/server.log" 2>&1 &
server=$!
# Enroll each device in a run that never checks in (busy), so the task runs with restarted
# clients that present only their identity files.
i=0
while read -r token; do
  i=$((i + 1))
  expect_output "enroll dev-$i" "enrolled as 'dev-$i'" \
    client $i --token "$token" --max-run-s 1 --require-idle --busy
  [ "$(stat -c %a "$tmp/id$i/device.key.sealed")" = 600 ] || fail "sealed key of dev-$i is not 0600"
done < "$tmp/tokens"
for i in 1 2 3; do
  "$pe" client --server 127.0.0.1:$port --identity "$tmp/id$i" --keystore software \
    --keystore-dir "$tmp/keys$i" --data $DATA/t10k-images-idx3-ubyte.gz \
    --labels $DATA/t10k-labels-idx1-ubyte.gz --offset $((i * 100)) --limit 100 --poll-ms 50 \
    --max-run-s 60 > "$tmp/client$i.log" 2>&1 &
done
wait $server || fail "server exited non-zero: $(tail -n 3 "$tmp/server.log")"
wait
grep -q "secagg.completed = 2" "$tmp/server.log" || fail "server did not complete 2 secure rounds: $(cat "$tmp/server.log")"
for i in 1 2 3; do
  grep -q "2 updates accepted, task over" "$tmp/client$i.log" || fail "dev-$i: $(cat "$tmp/client$i.log")"
done
# Another keystore cannot unwrap the identity.
expect_error "identity under another keystore" "" \
  "$pe" client --server 127.0.0.1:1 --identity "$tmp/id1" --keystore software \
  --keystore-dir "$tmp/keys2" --data $DATA/t10k-images-idx3-ubyte.gz \
  --labels $DATA/t10k-labels-idx1-ubyte.gz --limit 10 --max-run-s 2
# An --insecure device seals its signing key in --identity DIR; another keystore cannot open it.
"$pe" client --server 127.0.0.1:1 --insecure --identity "$tmp/plain" --keystore software \
  --keystore-dir "$tmp/keysp" --data $DATA/t10k-images-idx3-ubyte.gz \
  --labels $DATA/t10k-labels-idx1-ubyte.gz --limit 10 --max-run-s 1 > /dev/null 2>&1
[ "$(stat -c %a "$tmp/plain/signing.key.sealed" 2>/dev/null)" = 600 ] ||
  fail "--insecure --identity did not seal a signing key (0600) in the directory"
expect_error "insecure identity under another keystore" "--identity" \
  "$pe" client --server 127.0.0.1:1 --insecure --identity "$tmp/plain" --keystore software \
  --keystore-dir "$tmp/keys2" --data $DATA/t10k-images-idx3-ubyte.gz \
  --labels $DATA/t10k-labels-idx1-ubyte.gz --limit 10
sed 's/^secure_aggregation = .*/secure_aggregation = secagg\nstrategy.name = fedmedian/' \
  "$tmp/task.conf" > "$tmp/median.conf"
expect_error "server refuses median with secure aggregation" "needs each device's update" \
  "$pe" server --config "$tmp/median.conf" --state "$tmp/state2" --insecure
finish secagg-cli

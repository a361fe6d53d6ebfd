#!/bin/sh
# `privedge server` and `privedge client` processes with secure aggregation on: devices keep
# their identity with --identity (wrapped by a software keystore); a device restarted without
# a new token still takes part; the server refuses a task whose strategy needs individual
# updates; a client without the identity file's keystore cannot unwrap it.
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
round_deadline_ms = 20000
secure_aggregation = secaggplus
secagg.stage_timeout_ms = 2000
CONF
client() {  # device number, then extra options
  n=$1; shift
  "$pe" client --server 127.0.0.1:$port --insecure --device-id "dev-$n" \
    --identity "$tmp/id$n" --keystore software --keystore-dir "$tmp/keys$n" \
    --data $DATA/t10k-images-idx3-ubyte.gz --labels $DATA/t10k-labels-idx1-ubyte.gz \
    --offset $((n * 100)) --limit 100 --poll-ms 50 "$@"
}
"$pe" server enroll-token --state "$tmp/state" --count 3 > "$tmp/tokens"
"$pe" server --config "$tmp/task.conf" --state "$tmp/state" --listen 127.0.0.1:$port \
  --insecure --linger-ms 1500 > "$tmp/server.log" 2>&1 &
server=$!
# Enroll each device in a run that never checks in (busy), so the task runs with restarted
# clients that present only their identity files.
i=0
while read -r token; do
  i=$((i + 1))
  expect_output "enroll dev-$i" "enrolled as 'dev-$i'" \
    client $i --token "$token" --max-run-s 1 --require-idle --busy
  [ "$(stat -c %a "$tmp/id$i")" = 600 ] || fail "identity file of dev-$i is not 0600"
done < "$tmp/tokens"
for i in 1 2 3; do client $i --max-run-s 60 > "$tmp/client$i.log" 2>&1 & done
wait $server || fail "server exited non-zero: $(tail -n 3 "$tmp/server.log")"
wait
grep -q "secagg.completed = 2" "$tmp/server.log" || fail "server did not complete 2 secure rounds: $(cat "$tmp/server.log")"
for i in 1 2 3; do
  grep -q "2 updates accepted, task over" "$tmp/client$i.log" || fail "dev-$i: $(cat "$tmp/client$i.log")"
done
# Another keystore cannot unwrap the identity.
expect_error "identity under another keystore" "--identity" \
  "$pe" client --server 127.0.0.1:1 --insecure --identity "$tmp/id1" --keystore software \
  --keystore-dir "$tmp/keys2" --data $DATA/t10k-images-idx3-ubyte.gz \
  --labels $DATA/t10k-labels-idx1-ubyte.gz --limit 10
sed 's/^secure_aggregation = .*/secure_aggregation = secagg\nstrategy.name = fedmedian/' \
  "$tmp/task.conf" > "$tmp/median.conf"
expect_error "server refuses median with secure aggregation" "needs each device's update" \
  "$pe" server --config "$tmp/median.conf" --state "$tmp/state2" --insecure
finish secagg-cli

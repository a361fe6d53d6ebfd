#!/bin/sh
# Runs build/secagg_bench over cells of the SecAgg+ grid and prints bench/RESULTS.md table
# rows. Usage: bench/secagg_bench.sh [build dir] [cells...], a cell being n:d:dropout:runs.
# Without cells: the full grid n in {100, 1000, 10000}, d in {1e4, 1e5, 1e6}, dropout in
# {0, 0.1, 0.3}, 3 runs each; the n = 10000 rows take hours on 2 cores.
set -e
build=${1:-build}
[ $# -gt 0 ] && shift
cells=$*
if [ -z "$cells" ]; then
  for n in 100 1000 10000; do
    for d in 10000 100000 1000000; do
      for drop in 0 0.1 0.3; do cells="$cells $n:$d:$drop:3"; done
    done
  done
fi
echo "| n | d | dropout | k | t | bits | server s | device s (median) | device s (max) | KiB sent / device | KiB received / device | runs |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for cell in $cells; do
  IFS=: read n d drop runs <<CELL
$cell
CELL
  "$build/secagg_bench" --n "$n" --d "$d" --dropout "$drop" --runs "$runs" 2>/dev/null
done

#!/usr/bin/env bash
# Measures every row of docs/progression.md that reactor bench does not, in one run, and
# writes the results under bench/results (or the directory given):
#   progression-models.json, progression-models.md   memory per idle connection, threads,
#       context switches and CPU per request (process, thread, std, epoll); connect latency
#       (process against prefork); idle CPU (busypoll against epoll); epoll level- against
#       edge-triggered; select's cap; chat's drop of a member that does not read
#   progression-edge-rearm.txt   what edge-triggered epoll's 16-read re-arm buys
#
# Usage: bash scripts/progression.sh [OUT_DIR]     (from the repository root; Linux)
# It takes a few minutes and loads the machine: run nothing else meanwhile.
set -euo pipefail
out=${1:-bench/results}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GOFLAGS=${GOFLAGS:--buildvcs=false}
go build -o "$tmp/reactor" ./cmd/reactor
go build -o "$tmp/progression" ./bench/progression
"$tmp/progression" --reactor "$tmp/reactor" --out "$out" --rounds 3
{
	echo "# go test -run '^\$' -bench BenchmarkEdgeRearm -benchtime 3000x -count 3 ./adapters/epoll/"
	echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	go test -run '^$' -bench BenchmarkEdgeRearm -benchtime 3000x -count 3 ./adapters/epoll/
	echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/progression-edge-rearm.txt"

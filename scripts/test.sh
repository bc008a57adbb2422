#!/usr/bin/env bash
# The project's test command (README; .ci/run calls exactly this). Needs only Go; with CI=true
# it first installs the tools some tests drive (scripts/install-test-tools.sh: python3 for the
# classic chat wire, and the real TLS clients), which elsewhere skip, saying why, when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  printf 'gofmt would change:\n%s\n' "$unformatted"
  exit 1
fi

echo "== go vet"
go vet ./...

# staticcheck at a pinned version, fetched from the Go module proxy like every dependency.
echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# The command and the std backend must keep building elsewhere: vet type-checks every package
# and its tests for that OS, which is what breaks there (a build adds only code generation).
for goos in darwin windows freebsd; do
  echo "== GOOS=$goos go vet"
  GOOS=$goos go vet ./...
done

# The race detector makes sync.Pool drop items at random, so the zero-allocation pins are
# checked in a pass without it, before the full run.
echo "== allocation pins (without -race)"
go test -count=1 -timeout 10m -run 'Alloc' ./...

# The classic-wire tests (python3) and the TLS real-clients test (curl, openssl, wrk, h2load,
# chromium) skip locally where a tool is missing, saying so; in CI they must run.
if [ "${CI:-}" = true ]; then
  echo "== the tools tests drive (CI=true): scripts/install-test-tools.sh"
  bash scripts/install-test-tools.sh
fi

echo "== go test -race (every package; the conformance suite on every backend)"
# -p 4: the conformance packages spend most of their time waiting on sockets and timers (on a
# 2-core machine two test binaries at a time kept the CPUs under half busy), so four run at once.
go test -race -count=1 -p 4 -timeout 20m ./...

#!/usr/bin/env bash
# The project's test command (README; .ci/run calls exactly this). Needs Go; under CI
# (CI=true) it also installs the tools some tests need (scripts/install-test-tools.sh: python3),
# which elsewhere skip, saying why, when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${CI:-}" = true ] && ! command -v python3 >/dev/null 2>&1; then
  echo "== installing test tools (CI)"
  bash scripts/install-test-tools.sh
fi

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

# The command and the std backend must keep building elsewhere; vet compiles the tests too.
for goos in darwin windows freebsd; do
  echo "== GOOS=$goos go build && go vet"
  GOOS=$goos go build ./...
  GOOS=$goos go vet ./...
done

# The race detector makes sync.Pool drop items at random, so the zero-allocation pins are
# checked in a pass without it, before the full run.
echo "== allocation pins (without -race)"
go test -count=1 -timeout 10m -run 'Alloc' ./...

echo "== go test -race (every package; the conformance suite on every backend)"
go test -race -count=1 -timeout 20m ./...

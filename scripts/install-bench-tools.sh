#!/usr/bin/env bash
# Installs, from the OS packages (Debian/Ubuntu), the tools `reactor bench` can use besides its
# own load generators. Nothing in scripts/test.sh needs them: a bench run without them says
# what it skipped.
#
#   haproxy   the "what people use" anchor of `reactor bench --proto proxy` (Debian 12: 2.6)
#   nginx-light  nginx, the TLS terminator people deploy: the anchor of `reactor bench --tls
#             --backends …,nginx` (Debian 12: 1.22.1)
#   wrk       `reactor bench --proto http --loader wrk`
#   gcc       compiles the C floor of `reactor bench --backends c-floor` (or refs) for each run
#   socat, pv to try `reactor serve --proto proxy` by hand (docs/benchmarks.md)
#
# Usage: bash scripts/install-bench-tools.sh   (as root, or with sudo available)
set -euo pipefail

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-bench-tools: no apt-get here; install haproxy, nginx, wrk, socat, pv and a C compiler with this system's package manager" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# The bench starts haproxy and nginx itself, each with a configuration of its own in a temporary
# directory; the packages' services are not needed, and where there is no init system their
# start-up is skipped.
$sudo apt-get install -y -qq --no-install-recommends haproxy nginx-light wrk socat pv gcc libc6-dev
haproxy -v | head -1
PATH="$PATH:/usr/sbin" nginx -v

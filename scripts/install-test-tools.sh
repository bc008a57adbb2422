#!/usr/bin/env bash
# Installs, from the OS packages (Debian/Ubuntu), the tools some tests need besides Go:
#
#   python3   the classic chat wire's live tests run a Python chat client and server with
#             Python's own pickle and struct (internal/classictest)
#
# Without them those tests skip, saying why; under CI (CI=true) they fail instead, and
# scripts/test.sh runs this script first when python3 is missing.
#
# Usage: bash scripts/install-test-tools.sh   (as root, or with sudo available)
set -euo pipefail

if command -v python3 >/dev/null 2>&1; then
  python3 --version
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: no apt-get here; install python3 with this system's package manager" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends python3
python3 --version

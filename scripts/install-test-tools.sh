#!/usr/bin/env bash
# Installs, from the OS packages (Debian/Ubuntu), the tools some tests need besides Go:
#
#   python3            the classic chat wire's live tests run a Python chat client and server
#                      with Python's own pickle and struct (internal/classictest)
#   curl               TLS clients test (cmd/reactor TestTLSRealClients): https GET and a
#                      10 MiB POST, with --cacert and with -k
#   openssl            s_client for echo and chat over TLS
#   wrk                HTTP/1.1 load over https, zero errors wanted
#   nghttp2-client     h2load --h1, the same
#   chromium           headless, to show /plaintext over https
#
# Without them those tests skip, saying which tool is missing; under CI (CI=true) they fail
# instead, and scripts/test.sh runs this script first. Tools already present are left alone.
set -euo pipefail

need=()
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: no apt-get here; install ${need[*]} with this system's package manager" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends ca-certificates "${need[@]}"

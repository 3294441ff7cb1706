#!/usr/bin/env bash
# Makes sure the real servers and browser the test suite talks to are present.
# Installs missing ones with apt-get when running as root; otherwise fails
# naming what is missing. Tests never skip for a missing dependency.
set -euo pipefail

need=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# Real-network tests (tests/netns): namespaces, veths, NAT, conntrack, NFQUEUE (iptables-legacy).
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)
command -v iptables-legacy >/dev/null 2>&1 || [ -x /usr/sbin/iptables-legacy ] || need+=(iptables)
command -v conntrack >/dev/null 2>&1 || [ -x /usr/sbin/conntrack ] || need+=(conntrack)
command -v sysctl >/dev/null 2>&1 || [ -x /usr/sbin/sysctl ] || [ -x /sbin/sysctl ] || need+=(procps)
# bench:push --syscalls and its test count a process's system calls with perf.
command -v perf >/dev/null 2>&1 || need+=(linux-perf)
# The C1M bench's native client (loadtest/c1m-client/client.c): a C compiler and OpenSSL's headers.
command -v cc >/dev/null 2>&1 || need+=(gcc)
[ -f /usr/include/openssl/hmac.h ] || need+=(libssl-dev)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/setup.sh: installing ${need[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "tests/setup.sh: missing ${need[*]}. Install them (Debian: apt-get install ${need[*]}) and re-run." >&2
    exit 1
  fi
fi
bash "$(dirname "$0")/chart/get-helm.sh" >/dev/null  # helm for tests/chart (cached outside the repo)
# The trixie root (Debian 13, Node 24) where `npm test` also runs the gateway,
# router and cluster tests and the image replay (cached outside the repo).
bash "$(dirname "$0")/trixie/root.sh" >/dev/null

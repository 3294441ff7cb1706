#!/usr/bin/env bash
# Runs a command inside the trixie root (tests/trixie/root.sh) with this
# checkout mounted at /src, as the production image would run it: Debian 13's
# glibc, Node 24 from /usr/local/bin. Usage:
#   bash tests/trixie/run.sh node tests/run.mjs --root
# The mounts live in a private mount namespace (unshare), so they vanish with
# the command and runs from several checkouts never see each other's; each run
# gets its own /tmp. The npm cache is shared with the host (~/.npm), so the
# image replay's `npm ci` installs from it. Needs root (unshare, chroot).
# LONGLINK_* and CI variables pass through; nothing else from the host does.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
ROOT="$(bash "$REPO/tests/trixie/root.sh" | tail -1)"
[ $# -gt 0 ] || { echo "usage: tests/trixie/run.sh <command> [args...]" >&2; exit 2; }
mkdir -p "$HOME/.npm"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/longlink-trixie-tmp.XXXXXX")"
chmod 1777 "$tmp"
trap 'rm -rf "$tmp"' EXIT
envs=(PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TMPDIR=/tmp LONGLINK_IN_TRIXIE_ROOT=1)
while IFS='=' read -r k v; do
  case "$k" in LONGLINK_*|CI|NODE_OPTIONS) envs+=("$k=$v") ;; esac
done < <(env)
status=0
unshare --mount --propagation private -- /bin/bash -c '
  set -e
  repo="$1"; root="$2"; tmp="$3"; shift 3
  mount --bind "$repo" "$root/src"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount --bind "$tmp" "$root/tmp"
  mkdir -p "$root/root/.npm"
  mount --bind "$HOME/.npm" "$root/root/.npm"
  touch "$root/etc/resolv.conf" && mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
  exec chroot "$root" /usr/bin/env -i "$@"
' bash "$REPO" "$ROOT" "$tmp" "${envs[@]}" /bin/sh -c 'cd /src && exec "$@"' sh "$@" || status=$?
exit $status

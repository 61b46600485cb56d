#!/usr/bin/env bash
# Builds Rollgate's three traffic-router plugins for Argo Rollouts and writes
# what registers them with Argo's controller, checksums included:
#
#   examples/install/plugins.sh [--out DIR] [--image REF] [--release-url URL]
#                               [--plugin-dir DIR] [--binaries DIR]
#
#   --out DIR          where everything goes (default: $CARGO_TARGET_DIR/install,
#                      else target/install)
#   --image REF        the image holding the plugins for the init container
#                      (default: rollgate-plugins:<version>; build it with
#                      examples/install/Containerfile and push it first)
#   --release-url URL  where the https registration downloads from (default:
#                      https://github.com/rollgate/rollgate/releases/download/v<version>);
#                      each binary is <URL>/<binary>-linux-<arch>
#   --plugin-dir DIR   where the init container puts the binaries inside Argo's
#                      pod (default: /plugins)
#   --binaries DIR     take the three binaries from DIR instead of building them
#   --metrics-port N   have each plugin serve Prometheus metrics on /metrics:
#                      registered with `args: ["--metrics-addr", "0.0.0.0:<port>"]`,
#                      rollgate-gatewayapi on N, rollgate-nginx on N+1,
#                      rollgate-istio on N+2, in the pod of Argo's controller
#                      (default: no metrics)
#
# The binaries are built with the release profile and linked statically
# (glibc's static-pie: `-C target-feature=+crt-static`), because Argo's
# controller image has no C library for a dynamically linked program to load.
# They reach the API server through the in-cluster address, an IP address, so
# they need no name resolution (which static glibc cannot load).
#
# Written to DIR:
#
#   bin/<binary>-linux-<arch>               the binaries, as a release would publish them
#   SHA256SUMS                              their checksums, `sha256sum -c` format
#   argo-rollouts-config.file.yaml          the ConfigMap for binaries an init
#                                           container copies into the pod (file://)
#   argo-rollouts-config.https.yaml         the ConfigMap for binaries Argo downloads
#                                           from --release-url at start-up
#   argo-rollouts-values.yaml               values for Argo's Helm chart (argo-rollouts):
#                                           the init container, its volume and the
#                                           file:// registrations
#   argo-rollouts-patch.yaml                the same init container and volume for an
#                                           installation from Argo's manifests:
#                                           kubectl patch deployment argo-rollouts
#                                           -n argo-rollouts --patch-file FILE
#   rbac.yaml                               the permissions the plugins need, bound to
#                                           Argo's service account (examples/rbac/)
#
# Argo checks `sha256` after a download only; rollgate-controller checks it
# for file:// locations too, before every start.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
out="${CARGO_TARGET_DIR:-$root/target}/install"
image="rollgate-plugins:$version"
release_url="https://github.com/rollgate/rollgate/releases/download/v$version"
plugin_dir=/plugins
binaries=""
metrics_port=""

die() {
  echo "plugins.sh: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --out | --image | --release-url | --plugin-dir | --binaries | --metrics-port)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --metrics-port) metrics_port="$2" ;;
        --out) out="$2" ;;
        --image) image="$2" ;;
        --release-url) release_url="${2%/}" ;;
        --plugin-dir) plugin_dir="${2%/}" ;;
        --binaries) binaries="$2" ;;
      esac
      shift 2
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

case "$plugin_dir" in
  /*) ;;
  *) die "--plugin-dir must be an absolute path, found '$plugin_dir'" ;;
esac

case "$metrics_port" in
  "") ;;
  *[!0-9]* | 0*) die "--metrics-port must be a port number from 1 to 65533, found '$metrics_port'" ;;
  *) [ "$metrics_port" -le 65533 ] ||
    die "--metrics-port must be a port number from 1 to 65533, found '$metrics_port'" ;;
esac

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "no release name for the machine type '$(uname -m)'" ;;
esac

# Each plugin: its binary, the name Rollouts use under
# trafficRouting.plugins (the binary's default, so no --plugin-name is
# needed), and its RBAC file.
plugins=(
  "rollgate-gatewayapi argoproj-labs/gatewayAPI"
  "rollgate-nginx rollgate/nginx"
  "rollgate-istio rollgate/istio"
)

if [ -z "$binaries" ]; then
  host="$(rustc -vV | sed -n 's/^host: //p')"
  # An explicit --target keeps crt-static off build scripts and proc macros.
  (cd "$root" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --profile release --target "$host" \
    -p rollgate-gatewayapi -p rollgate-nginx -p rollgate-istio)
  binaries="${CARGO_TARGET_DIR:-$root/target}/$host/release"
fi

mkdir -p "$out/bin"
: >"$out/SHA256SUMS"
for entry in "${plugins[@]}"; do
  read -r binary _ <<<"$entry"
  [ -f "$binaries/$binary" ] || die "no $binary in $binaries"
  cp "$binaries/$binary" "$out/bin/$binary-linux-$arch"
  chmod 0755 "$out/bin/$binary-linux-$arch"
  (cd "$out/bin" && sha256sum "$binary-linux-$arch") >>"$out/SHA256SUMS"
done

checksum() { sed -n "s/^\([0-9a-f]\{64\}\)  $1-linux-$arch\$/\1/p" "$out/SHA256SUMS"; }

# registrations INDENT LOCATION-PREFIX SUFFIX: the trafficRouterPlugins list.
registrations() {
  local pad="$1" prefix="$2" suffix="$3" binary name port="$metrics_port"
  for entry in "${plugins[@]}"; do
    read -r binary name <<<"$entry"
    printf '%s- name: "%s"\n' "$pad" "$name"
    printf '%s  location: "%s/%s%s"\n' "$pad" "$prefix" "$binary" "$suffix"
    printf '%s  sha256: "%s"\n' "$pad" "$(checksum "$binary")"
    if [ -n "$port" ]; then
      printf '%s  args: ["--metrics-addr", "0.0.0.0:%s"]\n' "$pad" "$port"
      port=$((port + 1))
    fi
  done
}

configmap() {
  cat <<EOF
# Registers Rollgate's traffic-router plugins with Argo Rollouts ($1).
# Written by examples/install/plugins.sh for version $version ($arch).
apiVersion: v1
kind: ConfigMap
metadata:
  name: argo-rollouts-config
  namespace: argo-rollouts
data:
  trafficRouterPlugins: |
EOF
}

{
  configmap "binaries copied into $plugin_dir by an init container"
  registrations "    " "file://$plugin_dir" ""
} >"$out/argo-rollouts-config.file.yaml"

{
  configmap "binaries downloaded from $release_url"
  registrations "    " "$release_url" "-linux-$arch"
} >"$out/argo-rollouts-config.https.yaml"

# The init container copies the binaries out of the plugins image into an
# emptyDir that Argo's container mounts read-only at the same path.
# init_container INDENT: it, as a list item.
init_container() {
  sed "s/^/$1/" <<EOF
- name: rollgate-plugins
  image: $image
  command: ["cp", "-a", "/rollgate/plugins/.", "$plugin_dir/"]
  volumeMounts:
    - name: rollgate-plugins
      mountPath: $plugin_dir
  securityContext:
    runAsNonRoot: true
    runAsUser: 999
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities: {drop: [ALL]}
EOF
}

{
  cat <<EOF
# Values for Argo Rollouts' Helm chart (argo-rollouts) that install
# Rollgate's traffic-router plugins: an init container copies them from
# $image into an emptyDir that the controller mounts at $plugin_dir.
# Written by examples/install/plugins.sh for version $version ($arch).
controller:
  initContainers:
EOF
  init_container "    "
  cat <<EOF
  volumes:
    - name: rollgate-plugins
      emptyDir: {}
  volumeMounts:
    - name: rollgate-plugins
      mountPath: $plugin_dir
      readOnly: true
  trafficRouterPlugins:
EOF
  registrations "    " "file://$plugin_dir" ""
} >"$out/argo-rollouts-values.yaml"

# A strategic merge patch: lists of containers and volumes merge by name.
{
  cat <<EOF
# Adds the init container of Rollgate's plugins ($image) and its volume to
# Argo Rollouts' controller installed from Argo's manifests:
#   kubectl patch deployment argo-rollouts -n argo-rollouts --patch-file argo-rollouts-patch.yaml
# Written by examples/install/plugins.sh for version $version ($arch).
spec:
  template:
    spec:
      initContainers:
EOF
  init_container "        "
  cat <<EOF
      containers:
        - name: argo-rollouts
          volumeMounts:
            - name: rollgate-plugins
              mountPath: $plugin_dir
              readOnly: true
      volumes:
        - name: rollgate-plugins
          emptyDir: {}
EOF
} >"$out/argo-rollouts-patch.yaml"

{
  echo "# The permissions of Rollgate's traffic-router plugins, from examples/rbac/,"
  echo "# bound to Argo Rollouts' service account argo-rollouts/argo-rollouts."
  for entry in "${plugins[@]}"; do
    read -r binary _ <<<"$entry"
    echo "---"
    cat "$root/examples/rbac/$binary.yaml"
  done
} >"$out/rbac.yaml"

echo "wrote $out: bin/, SHA256SUMS, argo-rollouts-config.file.yaml, argo-rollouts-config.https.yaml, argo-rollouts-values.yaml, argo-rollouts-patch.yaml, rbac.yaml" >&2

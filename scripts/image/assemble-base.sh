#!/usr/bin/env bash
# Assembles a stand-in for the official node:<version>-alpine image where no registry can be reached, so the real
# Dockerfile can be built with it as its base argument. Prints the stand-in's reference (REPOSITORY:TAG) on stdout.
#
#   scripts/image/assemble-base.sh [NODE_VERSION]     (default: the Dockerfile's ARG NODE_VERSION)
#
# Like the official image, the reference is a manifest list for linux/amd64 and linux/arm64:
#
# - the instance for this machine's platform (also tagged <tag>-<arch>) is a working base. What the Dockerfile relies
#   on is reproduced: node and npm in /usr/local/bin, /bin/sh and /usr/bin/env (busybox), a CA bundle at Alpine's
#   path, uid/gid 1000 named "node" with /home/node, and the official image's docker-entrypoint.sh + CMD ["node"], so
#   the test can see that our image replaces them. Node.js is its own linux build of NODE_VERSION from npm's
#   node-linux-<arch> package (what the "node" package installs), linked against this machine's glibc, whose
#   libraries are copied in.
# - the other instance only has that platform's node binary and the same users and directories: nothing can run it
#   here (no emulation), and nothing needs to, since the Dockerfile's final stage only copies files. It lets a
#   multi-arch build of the real Dockerfile run, and fail if the final stage ever needs to execute something.
#
# The list is kept in the storage CONTAINERS_STORAGE_CONF names (default: a vfs storage under $GESTALT_IMAGE_CACHE,
# ${TMPDIR:-/tmp}/gestalt-deploy-image unless set) and reused: its repository name carries a key of everything that
# shapes it. The tag is <NODE_VERSION>-alpine, as the Dockerfile composes it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

cache=${GESTALT_IMAGE_CACHE:-${TMPDIR:-/tmp}/gestalt-deploy-image}
mkdir -p "$cache"
[ -n "${CONTAINERS_STORAGE_CONF:-}" ] || use_storage_dir "$cache/buildah"
node_version=${1:-$(dockerfile_arg_default NODE_VERSION "$here/../../Dockerfile")}
[ -n "$node_version" ] || die "no NODE_VERSION given and none in the Dockerfile"

command -v busybox >/dev/null || die "busybox not found: apt-get install -y busybox-static"
busybox_bin=$(command -v busybox)
case "$(uname -m)" in
  x86_64) native=amd64 other=arm64 ;;
  aarch64) native=arm64 other=amd64 ;;
  *) die "unsupported machine $(uname -m)" ;;
esac
key=$( { cat "$0"; echo "$node_version"; npm --version 2>/dev/null; "$busybox_bin" --help 2>&1 | sed -n 1p; uname -m; } | sha256sum | cut -c1-12)
image_repo="localhost/gestalt-deploy-test-base-$key/node"
image_ref="$image_repo:$node_version-alpine"

# Two test files may want the base at once: one assembles, the other waits and reuses it.
exec 9>"$cache/assemble-base.lock"
flock 9

# Bases of earlier keys would only fill the storage (vfs keeps every layer as a full copy).
for stale in $(buildah images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/gestalt-deploy-test-base-' | grep -v "^$image_repo:" || true); do
  buildah manifest rm "$stale" >/dev/null 2>&1 || buildah rmi "$stale" >/dev/null 2>&1 || true
done

if buildah manifest inspect "$image_ref" >/dev/null 2>&1; then
  log "base $image_ref already assembled"
  echo "$image_ref"
  exit 0
fi

# A dynamically linked busybox would need its own libraries and could miss applets.
if ldd "$busybox_bin" >/dev/null 2>&1; then die "$busybox_bin is dynamically linked: apt-get install -y busybox-static"; fi
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca_bundle" ] || die "$ca_bundle missing: apt-get install -y ca-certificates"
npm_dir=$(npm root -g 2>/dev/null)/npm
[ -f "$npm_dir/bin/npm-cli.js" ] || die "npm not found under $npm_dir"

node_binary() { # GOARCH -> path of that platform's node binary, fetched once into the cache
  local npm_arch=$1
  [ "$npm_arch" = amd64 ] && npm_arch=x64
  local dir="$cache/node-$node_version-linux-$npm_arch"
  local bin="$dir/node_modules/node-linux-$npm_arch/bin/node"
  if [ ! -f "$bin" ]; then
    log "fetching Node.js $node_version (npm package node-linux-$npm_arch)"
    rm -rf "$dir"
    mkdir -p "$dir"
    # The platform package carries the binary itself; no install script has to run. --force: npm otherwise refuses a
    # package whose cpu field is not this machine's.
    npm install --prefix "$dir" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --force \
      "node-linux-$npm_arch@$node_version" >&2
  fi
  [ -f "$bin" ] || die "no $bin after npm install"
  echo "$bin"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/gestalt-base.XXXXXX")
trap 'rm -rf "$work"' EXIT

common_rootfs() { # ROOTFS NODE_BINARY
  local rootfs=$1
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/lib/node_modules,etc/ssl/certs,home/node,root,tmp}
  install -m 0755 "$2" "$rootfs/usr/local/bin/node"
  cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/:/sbin/nologin
node:x:1000:1000:Linux User,,,:/home/node:/bin/sh
EOF
  cat >"$rootfs/etc/group" <<'EOF'
root:x:0:root
nogroup:x:65534:
node:x:1000:node
EOF
  chmod 1777 "$rootfs/tmp"
  chmod 0700 "$rootfs/root"
  chown 1000:1000 "$rootfs/home/node"
}

build_rootfs_image() { # ROOTFS ARCH TAG
  local ctx="$work/context-$2"
  mkdir -p "$ctx"
  # ADD of a tar keeps owners and modes (COPY would make /home/node root's); config as the official image's.
  tar -C "$1" --numeric-owner -cf "$ctx/rootfs.tar" .
  cat >"$ctx/Containerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV NODE_VERSION=$node_version PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]
EOF
  buildah build --isolation chroot --quiet --platform "linux/$2" -t "$3" "$ctx" >/dev/null
}

log "assembling base $image_ref (linux/$native working, linux/$other build-only)"

# The working instance for this machine.
rootfs="$work/rootfs-$native"
node_bin=$(node_binary "$native")
[ "$("$node_bin" --version)" = "v$node_version" ] || die "$node_bin is not Node.js $node_version"
common_rootfs "$rootfs" "$node_bin"
install -m 0755 "$busybox_bin" "$rootfs/bin/busybox"
# Applets as symlinks at the paths busybox itself lists (bin/sh, usr/bin/env, ...), as Alpine does.
while read -r applet; do
  [ -e "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
done < <("$busybox_bin" --list-full | grep -v '^bin/busybox$')
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
# Libraries at the paths ldd reports (the loader included), symlinks resolved.
ldd "$node_bin" | awk '/=> \//{print $3} /^\t\//{print $1}' | sort -u | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
# Same behaviour as the official image's entrypoint: arguments that are not a command are given to node.
cat >"$rootfs/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
chmod 0755 "$rootfs/usr/local/bin/docker-entrypoint.sh"
build_rootfs_image "$rootfs" "$native" "$image_ref-$native"

# The build-only instance for the other platform.
rootfs="$work/rootfs-$other"
common_rootfs "$rootfs" "$(node_binary "$other")"
build_rootfs_image "$rootfs" "$other" "$image_ref-$other"

buildah manifest create "$image_ref" >/dev/null
for arch in "$native" "$other"; do
  buildah manifest add "$image_ref" "containers-storage:$image_ref-$arch" >/dev/null
done
echo "$image_ref"

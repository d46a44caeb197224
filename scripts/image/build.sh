#!/usr/bin/env bash
# Builds the runner image from the Dockerfile with buildah: the pipeline's image job and the image test both use it.
#
#   scripts/image/build.sh IMAGE_REF [extra `buildah build` arguments...]
#
# IMAGE_PLATFORMS  comma-separated, e.g. linux/amd64,linux/arm64: IMAGE_REF becomes a manifest list holding one image
#                  per platform (push it with `buildah manifest push --all`). Unset: one image for this machine's
#                  platform, tagged IMAGE_REF.
# BUILD_CONTEXT    directory to build (default: the repository root; it must hold the Dockerfile and .dockerignore)
# VERSION          label value (default: package.json's version)
# REVISION         label value (default: CI_COMMIT_SHA, else `git rev-parse HEAD` in the context, else "unknown")
# SOURCE           label value (default: CI_PROJECT_URL, else the Dockerfile's default)
# BASE_IMAGE / NODE_VERSION  override the Dockerfile's base image and Node.js version
# NODE_EXTRA_CA_CERTS        passed on to the build stage's npm (see below)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

image_ref=${1:?IMAGE_REF}
shift
context=${BUILD_CONTEXT:-$(cd "$here/../.." && pwd)}
[ -f "$context/Dockerfile" ] || die "no Dockerfile in $context"

version=${VERSION:-$(package_version "$context/package.json")}
[ -n "$version" ] || die "no version in $context/package.json"
revision=${REVISION:-${CI_COMMIT_SHA:-$(git -C "$context" rev-parse HEAD 2>/dev/null || echo unknown)}}

# The bundle stage runs on this machine's platform (FROM --platform=$BUILDPLATFORM); some buildah releases (1.28)
# do not define BUILDPLATFORM themselves, so it is always given.
build_platform=$(buildah info --format '{{.host.os}}/{{.host.arch}}')
args=(--isolation "${BUILDAH_ISOLATION:-chroot}" --format oci --build-arg "BUILDPLATFORM=$build_platform"
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision")
[ -n "${SOURCE:-${CI_PROJECT_URL:-}}" ] && args+=(--build-arg "SOURCE=${SOURCE:-$CI_PROJECT_URL}")
[ -n "${BASE_IMAGE:-}" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
[ -n "${NODE_VERSION:-}" ] && args+=(--build-arg "NODE_VERSION=$NODE_VERSION")
# A TLS-intercepting proxy's CA, for npm in the build stage: the path must be valid inside the base image too (Alpine
# and Debian both keep their bundle at /etc/ssl/certs/ca-certificates.crt).
[ -n "${NODE_EXTRA_CA_CERTS:-}" ] && args+=(--build-arg "NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS")

if [ -n "${IMAGE_PLATFORMS:-}" ]; then
  # A stale list under the same name would collect this build's images next to the old ones.
  buildah manifest rm "$image_ref" >/dev/null 2>&1 || true
  args+=(--platform "$IMAGE_PLATFORMS" --manifest "$image_ref")
else
  args+=(--tag "$image_ref")
fi

log "building $image_ref (version $version, revision $revision${IMAGE_PLATFORMS:+, platforms $IMAGE_PLATFORMS})"
buildah build "${args[@]}" "$@" -f "$context/Dockerfile" "$context"

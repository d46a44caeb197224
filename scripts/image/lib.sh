# shellcheck shell=bash
# Sourced by the image scripts.

# The image tests keep buildah's images in a directory of their own, with the vfs driver (no overlay support needed),
# and never touch the machine's default container storage. They say so in a storage.conf named by
# CONTAINERS_STORAGE_CONF, which every buildah call honours, including those in .gitlab-ci.yml's jobs when
# gitlab-ci-local runs them. CI jobs on GitLab set neither and use STORAGE_DRIVER / BUILDAH_ISOLATION.
use_storage_dir() { # DIR
  mkdir -p "$1"
  local conf="$1/storage.conf" tmp
  tmp=$(mktemp "$1/.storage.conf.XXXXXX")
  printf '[storage]\ndriver = "vfs"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' "$1" "$1" >"$tmp"
  mv -f "$tmp" "$conf"
  export CONTAINERS_STORAGE_CONF="$conf"
}

# The default base version lives in the Dockerfile only; scripts read it from there.
dockerfile_arg_default() { # NAME DOCKERFILE
  sed -n "s/^ARG $1=\(.*\)$/\1/p" "$2" | sed -n 1p
}

# package.json's version without node: the buildah CI image has none. npm writes the package's own "version" as the
# first two-space-indented one.
package_version() { # PACKAGE_JSON
  sed -n 's/^  "version": *"\([^"]*\)",\{0,1\}$/\1/p' "$1" | sed -n 1p
}

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] ERROR: %s\n' "$*" >&2; exit 1; }

# Seconds since the epoch with milliseconds, for the timings in the report.
now_ms() { date +%s%3N; }

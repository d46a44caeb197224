#!/usr/bin/env bash
# Image test for a machine without a Docker engine or a registry:
#   1. lints the Dockerfile (dockerfilelint),
#   2. assembles a local stand-in for the node:<NODE_VERSION>-alpine base (scripts/image/assemble-base.sh; cached),
#   3. builds the real Dockerfile with buildah, the stand-in passed as BASE_IMAGE (scripts/image/build.sh),
#   4. checks the image config (non-root user, no entrypoint, OCI labels) and, with `buildah run --isolation chroot`
#      as the image's own user: a shell, `gestalt-deploy --version`, and `gestalt-deploy plan` (gateway mode) against
#      a moto_server S3 on 127.0.0.1,
#   5. measures the image and the part the project adds on top of its base.
# Every check fails the script. The last stdout line is `GESTALT_IMAGE_REPORT <json>` for test/image/image.test.ts.
#
# Needs: buildah, busybox-static (base), moto_server, python3, curl, node/npm, node_modules (dockerfilelint).
# BUILD_CONTEXT     directory to build instead of the repository root
# GESTALT_IMAGE_CACHE  where the Node.js download and buildah's storage are kept between runs
#                      (default ${TMPDIR:-/tmp}/gestalt-deploy-image)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

t_start=$(now_ms)
for tool in buildah moto_server python3 curl node npm; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y buildah busybox-static curl; moto_server from the machine's Python)"
done

context=${BUILD_CONTEXT:-$root}
export BUILD_CONTEXT=$context
dockerfile="$context/Dockerfile"
node_version=${NODE_VERSION:-$(dockerfile_arg_default NODE_VERSION "$dockerfile")}
[ -n "$node_version" ] || die "no ARG NODE_VERSION default in $dockerfile"
export GESTALT_IMAGE_CACHE=${GESTALT_IMAGE_CACHE:-${TMPDIR:-/tmp}/gestalt-deploy-image}
[ -n "${CONTAINERS_STORAGE_CONF:-}" ] || use_storage_dir "$GESTALT_IMAGE_CACHE/buildah"
version=$(node -p 'require(process.argv[1]).version' "$context/package.json")

work=$(mktemp -d "${TMPDIR:-/tmp}/gestalt-image-test.XXXXXX")
image_ref="localhost/gestalt-deploy-test:run-$$"
ctr=""
moto_pid=""
cleanup() {
  local rc=$?
  set +e
  if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null; wait "$moto_pid" 2>/dev/null; fi
  if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1; fi
  buildah rmi "$image_ref" >/dev/null 2>&1
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# 1. Lint. The rc file beside the Dockerfile is picked up by dockerfilelint's default config lookup.
t0=$(now_ms)
log "dockerfilelint $dockerfile"
"$root/node_modules/.bin/dockerfilelint" "$dockerfile" >"$work/lint.txt" 2>&1 || { cat "$work/lint.txt" >&2; die "dockerfilelint found issues"; }
t_lint=$(($(now_ms) - t0))

# 2. Base (cached between runs).
t0=$(now_ms)
base_ref=$("$here/assemble-base.sh" "$node_version")
base_image=${base_ref%:*}
# The list's instance for this machine, which the single-platform build below uses.
native_base_ref="$base_ref-$(buildah info --format '{{.host.arch}}')"
t_base=$(($(now_ms) - t0))

# 3. Build the real Dockerfile on the stand-in base. The machine reaches the npm registry through its own TLS setup,
#    whose CA bundle the base carries at the same path.
t0=$(now_ms)
BASE_IMAGE="$base_image" NODE_VERSION="$node_version" REVISION="${REVISION:-0000000000000000000000000000000000000000}" \
  "$here/build.sh" "$image_ref" --build-arg NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt >&2
t_build=$(($(now_ms) - t0))

# 4a. Image configuration.
buildah inspect --type image "$image_ref" >"$work/inspect.json"
node - "$work/inspect.json" "$version" >"$work/config.json" <<'EOF'
const [file, version] = process.argv.slice(2);
const cfg = JSON.parse(require('node:fs').readFileSync(file, 'utf8')).OCIv1.config;
const fail = (m) => { console.error(`[image] ERROR: ${m}`); process.exit(1); };
const user = cfg.User ?? '';
const uid = user.split(':')[0];
if (!/^\d+$/.test(uid) || uid === '0') fail(`image user "${user}" is not a numeric non-root uid`);
if (cfg.Entrypoint?.length) fail(`image has an entrypoint ${JSON.stringify(cfg.Entrypoint)}; GitLab's executor needs none`);
const labels = cfg.Labels ?? {};
for (const k of ['title', 'version', 'revision', 'source', 'licenses']) {
  if (!labels[`org.opencontainers.image.${k}`]) fail(`label org.opencontainers.image.${k} missing`);
}
if (labels['org.opencontainers.image.version'] !== version) fail(`version label ${labels['org.opencontainers.image.version']} != ${version}`);
console.log(JSON.stringify({ user, entrypoint: cfg.Entrypoint ?? null, cmd: cfg.Cmd ?? null, labels }));
EOF

# 4b. Runs inside the image, as the user the image configures (no --user given).
ctr=$(buildah from --pull-never "$image_ref")
run() { buildah run --isolation chroot "$@"; }
t0=$(now_ms)
run_uid=$(run "$ctr" -- sh -c 'id -u')
[ "$run_uid" != 0 ] || die "commands in the image run as root"
image_node=$(run "$ctr" -- node --version)
cli_version=$(run "$ctr" -- gestalt-deploy --version)
[ "$cli_version" = "$version" ] || die "gestalt-deploy --version printed '$cli_version', expected '$version'"
# The licences of the inlined packages ship beside the bundle.
run "$ctr" -- cat /usr/local/lib/gestalt-deploy/THIRD-PARTY-NOTICES.txt >"$work/notices.txt"
grep -q '^  @aws-sdk/client-s3@' "$work/notices.txt" || die "the image has no third-party notices listing @aws-sdk/client-s3"
t_version=$(($(now_ms) - t0))

# 4c. plan in gateway mode: reads S3 (moto), lists what it would upload, writes nothing remote.
port=$(node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null && break; sleep 0.1; done
bucket=gestalt-image-test
curl -fsS -o /dev/null -X PUT "http://127.0.0.1:$port/$bucket" || die "could not create bucket in moto_server"
project="$work/project"
mkdir -p "$project"
python3 - "$project/a.zip" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('index.js', 'exports.handler = async () => ({ statusCode: 200, body: "ok" });\n')
EOF
# GitLab's runner leaves the build directory writable for any uid (umask 0000); the image's user may write reports.
chmod -R a+rwX "$project"
t0=$(now_ms)
set +e
run --workingdir /builds/acme/lambdas -v "$project:/builds/acme/lambdas" \
  -e CI_URL="http://127.0.0.1:9/deploy" \
  -e S3_BUCKET_NAME="$bucket" \
  -e AWS_ENDPOINT_URL_S3="http://127.0.0.1:$port" \
  -e S3_FORCE_PATH_STYLE=true \
  -e AWS_REGION=us-east-1 -e AWS_ACCESS_KEY_ID=test -e AWS_SECRET_ACCESS_KEY=test \
  -e 'LAMBDA_ARTIFACTS=*.zip' -e LAMBDA_RUNTIME=nodejs -e LAMBDA_API=dev1 \
  -e LAMBDA_ENVIRONMENT_ID=4b7c8a51-8e1f-4a55-9c3e-2f6d1b0a9e77 \
  -e CI_PROJECT_DIR=/builds/acme/lambdas -e CI_PROJECT_NAME=lambdas -e CI_PROJECT_PATH=acme/lambdas \
  -e CI_COMMIT_REF_SLUG=main -e CI_COMMIT_SHA=0123456789abcdef0123456789abcdef01234567 \
  -e CI_ENVIRONMENT_NAME=review/main -e CI_PIPELINE_ID=1 -e CI_JOB_ID=2 \
  "$ctr" -- gestalt-deploy plan >"$work/plan.txt" 2>&1
plan_rc=$?
set -e
t_plan=$(($(now_ms) - t0))
cat "$work/plan.txt" >&2
[ "$plan_rc" = 0 ] || die "gestalt-deploy plan exited $plan_rc"
grep -qi 'upload' "$work/plan.txt" || die "gestalt-deploy plan output does not mention an upload"

# 4d. An unexpected failure under GESTALT_DEBUG (a directory where the report file goes): the stack names src/ files
#     through the source map beside the bundle, on the image's own Node.
broken="$work/broken"
mkdir -p "$broken/gestalt-deploy.json"
chmod -R a+rwX "$broken"
set +e
run --workingdir /builds/acme/broken -v "$broken:/builds/acme/broken" \
  -e GESTALT_DEBUG=true -e CI_URL="http://127.0.0.1:9/deploy" -e S3_BUCKET_NAME="$bucket" -e S3_PREFIX=acme/broken \
  -e AWS_ENDPOINT_URL_S3="http://127.0.0.1:$port" -e S3_FORCE_PATH_STYLE=true \
  -e AWS_REGION=us-east-1 -e AWS_ACCESS_KEY_ID=test -e AWS_SECRET_ACCESS_KEY=test -e CI_ENVIRONMENT_NAME=review/broken \
  "$ctr" -- gestalt-deploy stop >"$work/debug.txt" 2>&1
set -e
grep -Eq 'src/reports/write\.ts:[0-9]+:[0-9]+' "$work/debug.txt" || { cat "$work/debug.txt" >&2; die "GESTALT_DEBUG stack trace names no src/ file and line"; }

# 5. Sizes, from the layers as a registry would store them.
t0=$(now_ms)
buildah push --quiet "$image_ref" "oci:$work/oci" >/dev/null
base_layers=$(buildah inspect --type image "$native_base_ref" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8")).OCIv1.rootfs.diff_ids.length)')
image_layers_prefix_ok=$(node -e '
  const fs = require("fs");
  const [a, b] = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")).OCIv1.rootfs.diff_ids);
  console.log(a.every((d, i) => b[i] === d));' <(buildah inspect --type image "$native_base_ref") "$work/inspect.json")
[ "$image_layers_prefix_ok" = true ] || die "the image's first layers are not its base's"
node "$here/layer-sizes.mjs" "$work/oci" "$base_layers" >"$work/sizes.json"
t_sizes=$(($(now_ms) - t0))

node - "$work" <<EOF
const fs = require('node:fs');
const w = process.argv[2];
const read = (f) => JSON.parse(fs.readFileSync(w + '/' + f, 'utf8'));
const report = {
  image: '$image_ref', base: '$base_ref', nodeVersion: '$node_version', imageNode: '$image_node',
  version: '$cli_version', uid: Number('$run_uid'), config: read('config.json'), sizes: read('sizes.json'),
  plan: fs.readFileSync(w + '/plan.txt', 'utf8'),
  debugStack: fs.readFileSync(w + '/debug.txt', 'utf8'),
  notices: fs.readFileSync(w + '/notices.txt', 'utf8'),
  timingsMs: { lint: $t_lint, base: $t_base, build: $t_build, version: $t_version, plan: $t_plan, sizes: $t_sizes,
    total: $(now_ms) - $t_start },
};
const mb = (n) => (n / 1e6).toFixed(2) + ' MB';
const s = report.sizes;
console.error('[image] image ' + mb(s.image.compressed) + ' compressed / ' + mb(s.image.uncompressed) + ' uncompressed; '
  + 'project adds ' + mb(s.added.compressed) + ' / ' + mb(s.added.uncompressed) + ' in ' + s.added.layers + ' layer(s) '
  + 'on a base of ' + mb(s.base.compressed) + ' / ' + mb(s.base.uncompressed));
console.error('[image] timings (ms) ' + JSON.stringify(report.timingsMs));
console.log('GESTALT_IMAGE_REPORT ' + JSON.stringify(report));
EOF

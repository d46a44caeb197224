# gestalt-deploy runner image: Node LTS on Alpine plus one bundled file.
#
# Build (the pipeline and scripts/image/build.sh pass the labels' values):
#   buildah build --build-arg VERSION=1.2.3 --build-arg REVISION=$(git rev-parse HEAD) -t gestalt-deploy:1.2.3 .

# The base is an argument so the image can follow Node LTS releases, and so tests without a registry can substitute a
# locally assembled image that has the same layout (node on PATH, /bin/sh, uid 1000 "node").
ARG BASE_IMAGE=docker.io/library/node
ARG NODE_VERSION=24.21.0

# The bundle is plain JavaScript, so it is built once on the build machine's own platform: a multi-arch build needs no
# CPU emulation, because the final stage below has no RUN step.
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE}:${NODE_VERSION}-alpine AS build
# For builds behind a TLS-intercepting proxy: a CA file inside the base image that npm's Node should also trust.
ARG NODE_EXTRA_CA_CERTS
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts are skipped: bundling needs none of them, and none should run with the image's build credentials.
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.mjs scripts/
COPY scripts/lib/notices.mjs scripts/lib/
COPY src/ src/
# Staged under /out with the layout of /usr/local, so the final stage takes it in one COPY (symlink included).
# .mjs: Node knows it is ESM without a package.json beside it and parses it once. Beside it: the source map the bundle
# names (GESTALT_DEBUG stack traces show src/ files and lines) and the licences of the packages inlined into it.
RUN npm run build \
    && node dist/gestalt-deploy.js --version \
    && mkdir -p /out/bin /out/lib/gestalt-deploy \
    && cp dist/gestalt-deploy.js /out/lib/gestalt-deploy/gestalt-deploy.mjs \
    && cp dist/gestalt-deploy.js.map dist/THIRD-PARTY-NOTICES.txt /out/lib/gestalt-deploy/ \
    && chmod 0755 /out/lib/gestalt-deploy/gestalt-deploy.mjs \
    && chmod 0644 /out/lib/gestalt-deploy/gestalt-deploy.js.map /out/lib/gestalt-deploy/THIRD-PARTY-NOTICES.txt \
    && ln -s ../lib/gestalt-deploy/gestalt-deploy.mjs /out/bin/gestalt-deploy
# Node's compile cache (Node >= 22.1; NODE_COMPILE_CACHE below): compiling the bundle is most of a run's start-up, so
# the image ships V8's code for it, made by the same Node version. The cache is keyed by the file's path, so the bundle
# runs once from its final path. The image's user cannot write the directory: a Node that cannot use the cache
# (another version, an older Node that ignores the variable) compiles as usual and leaves it as it is.
RUN mkdir -p /out/lib/gestalt-deploy/compile-cache /usr/local/lib/gestalt-deploy \
    && cp /out/lib/gestalt-deploy/gestalt-deploy.mjs /usr/local/lib/gestalt-deploy/ \
    && NODE_COMPILE_CACHE=/out/lib/gestalt-deploy/compile-cache node /usr/local/lib/gestalt-deploy/gestalt-deploy.mjs --version \
    && chmod -R a+rX,go-w /out/lib/gestalt-deploy/compile-cache

FROM ${BASE_IMAGE}:${NODE_VERSION}-alpine
ARG BASE_IMAGE
ARG NODE_VERSION
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=https://gitlab.com/gestalt-deploy/gestalt-deploy
LABEL org.opencontainers.image.title="gestalt-deploy" \
      org.opencontainers.image.description="Deploys serverless functions to a Gestalt Platform environment from GitLab CI/CD" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}:${NODE_VERSION}-alpine"
COPY --from=build /out/ /usr/local/
ENV NODE_COMPILE_CACHE=/usr/local/lib/gestalt-deploy/compile-cache
# Numeric, so Kubernetes runners with runAsNonRoot can verify it; 1000 is the base image's "node" user.
USER 1000:1000
# GitLab's Docker executor starts the image's entrypoint with a shell script as its command: an entrypoint that is not
# a pass-through would swallow the job. No entrypoint at all also drops the base's node-wrapping docker-entrypoint.sh.
ENTRYPOINT []
CMD ["gestalt-deploy", "--help"]

# DAG: GitHub App + GitLab bot. Node 24 runs the TypeScript sources directly (type stripping),
# so there is no build step: the image holds production dependencies and the sources.
FROM node:24-bookworm-slim

# git: DAG clones and pushes IAC repositories. ca-certificates: HTTPS to GitHub, GitLab, clusters.
# tini: PID 1 (below) that reaps the zombies of git helpers DAG kills on a timeout.
RUN apt-get update \
  && apt-get install -y --no-install-recommends git ca-certificates tini \
  && rm -rf /var/lib/apt/lists/*

# kubectl/helm, if a workflow ever shells out to them, go here (add curl above; pin versions and
# verify checksums):
# ARG KUBECTL_VERSION=v1.34.1
# RUN curl -fsSLo /usr/local/bin/kubectl \
#       "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/amd64/kubectl" \
#   && chmod +x /usr/local/bin/kubectl
# ARG HELM_VERSION=v3.19.0
# RUN curl -fsSL "https://get.helm.sh/helm-${HELM_VERSION}-linux-amd64.tar.gz" \
#   | tar -xz -C /usr/local/bin --strip-components=1 linux-amd64/helm

WORKDIR /app
ENV NODE_ENV=production PORT=3000

# Dependencies first, so source edits do not invalidate this layer. --omit=dev leaves out the
# `node` devDependency too: the image runs the base image's Node 24, whatever starts it.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY app.yml ./
COPY bin/ ./bin/
COPY templates/ ./templates/
# The Flux CRDs that fix proposals are checked against (src/render/flux-schemas.ts).
COPY schemas/ ./schemas/
COPY src/ ./src/

# Code stays root-owned and read-only for the app. Writable for the `node` user (uid/gid 1000):
# - .dag/ with data/ and cache/: the embedded database, its key and cached clones. Mount a volume
#   at /app/.dag for the embedded database; the directories exist, so a new named volume starts
#   out owned by `node`.
# - .env alone (not /app): Probot's GitHub App setup (/probot) writes APP_ID, PRIVATE_KEY and
#   WEBHOOK_SECRET to .env in the working directory. Mode 0600: it will hold the private key.
RUN mkdir -p /app/.dag/data /app/.dag/cache \
  && chown -R node:node /app/.dag \
  && touch /app/.env \
  && chown node:node /app/.env \
  && chmod 0600 /app/.env
# Numeric, so Kubernetes' runAsNonRoot can tell it is not root (deploy/kubernetes runs as 1000).
USER 1000:1000

EXPOSE 3000
# Follows PORT as DAG does (unset or empty: 3000). Keep HOST unset in a container: DAG then
# listens on all interfaces, 127.0.0.1 included.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + ((process.env.PORT || '').trim() || '3000') + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# tini as PID 1 forwards SIGTERM to node (DAG then stops gracefully) and reaps orphans.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "src/main.ts"]

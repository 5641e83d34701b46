# DAG: GitHub App + GitLab bot. Node 24 runs the TypeScript sources directly (type stripping),
# so there is no build step: the image holds production dependencies and the sources.
FROM node:24-bookworm-slim

# git: DAG clones and pushes IAC repositories. ca-certificates: HTTPS to GitHub, GitLab, clusters.
RUN apt-get update \
  && apt-get install -y --no-install-recommends git ca-certificates \
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
ENV NODE_ENV=production

# Dependencies first, so source edits do not invalidate this layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY app.yml ./
COPY bin/ ./bin/
COPY templates/ ./templates/
COPY src/ ./src/

# Code stays root-owned and read-only for the app; only .dag/ (local state) is writable.
RUN mkdir -p /app/.dag && chown node:node /app/.dag
USER node

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "src/main.ts"]

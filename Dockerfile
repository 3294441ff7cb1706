# syntax=docker/dockerfile:1
# One image for every role: `docker run longlink gateway|router|standalone`
# (the chart passes the role as the container's argument).
#
# Node 24 LTS on Debian 13 (trixie): uWebSockets.js 20.57's Linux binaries
# need glibc >= 2.38 (trixie has 2.41) and it ships no musl binary, so neither
# bookworm (2.36) nor Alpine would start the gateway (docs/runtime.md).
#
# tests/chart/image-build.test.ts replays this file without Docker, inside a
# trixie root with Node 24 (tests/trixie/): it copies exactly what the COPY
# lines name (minus .dockerignore), runs the build stage's RUN lines,
# assembles the runtime stage's COPY --from files, and starts gateway and
# router from the result. Keep every RUN a plain shell command.

FROM node:24-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY protocol ./protocol
COPY services ./services
# The client SDK: `npm run client` (services/standalone/client-cli.ts) is a thin CLI over it.
COPY sdk ./sdk
RUN npx tsc -p tsconfig.json --declaration false
# The operator console's page (esbuild, a dev dependency: bundled here, served as static files).
RUN node dist/services/router/console/build-ui.js
# --omit=optional drops the legacy Node 20 uWS build (uws-legacy-node20) and
# its optional helpers: the image runs the supported build only.
RUN npm prune --omit=dev --omit=optional --no-audit --no-fund
# Keep only the uWS binary for this platform and Node ABI (linux-x64, ABI 137
# = Node 24, on amd64); drop the other 15 (~85 MiB).
RUN keep="uws_$(node -p 'process.platform + "_" + process.arch + "_" + process.versions.modules').node" \
 && test -f "node_modules/uWebSockets.js/$keep" \
 && find node_modules/uWebSockets.js -name '*.node' ! -name "$keep" -delete

FROM node:24-trixie-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/protocol ./dist/protocol
COPY --from=build /app/dist/services ./dist/services
COPY --from=build /app/dist/sdk ./dist/sdk
# Numeric uid:gid of the image's "node" user, so Kubernetes' runAsNonRoot can
# verify it. Files stay root-owned: the process cannot modify its own code.
USER 1000:1000
# 8080 gateway WebSocket (and health), 8081 router API, 9090 gateway /metrics when LONGLINK_METRICS_PORT is set (the chart sets it).
EXPOSE 8080 8081 9090
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and gets SIGTERM itself; its handler starts the
# gateway's paced drain (the router closes its HTTP server and connections).
ENTRYPOINT ["node", "dist/services/entry.js"]
CMD ["gateway"]

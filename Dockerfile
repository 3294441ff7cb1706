# syntax=docker/dockerfile:1
# One image for every role: `docker run longlink gateway|router|standalone`
# (the chart passes the role as the container's argument).
#
# glibc base (Debian 12 bookworm): uWebSockets.js ships no musl binary, so on
# Alpine the gateway would refuse to start rather than run uWS's slow JS
# fallback.
#
# tests/chart/image-build.test.ts replays this file without Docker: it copies
# exactly what the COPY lines name (minus .dockerignore), runs the build
# stage's RUN lines, assembles the runtime stage's COPY --from files, and starts
# gateway and router from the result. Keep every RUN a plain shell command.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY protocol ./protocol
COPY services ./services
RUN npx tsc -p tsconfig.json --declaration false
# The operator console's page (esbuild, a dev dependency: bundled here, served as static files).
RUN node dist/services/router/console/build-ui.js
RUN npm prune --omit=dev --no-audit --no-fund
# Keep only the uWS binary for this platform and Node ABI (linux-x64, ABI 115
# = Node 20, on amd64); drop the other 20 (~104 MiB), uWS's docs and the JS
# fallback's own copy of ws (the gateway refuses the fallback anyway).
RUN keep="uws_$(node -p 'process.platform + "_" + process.arch + "_" + process.versions.modules').node" \
 && test -f "node_modules/uWebSockets.js/binaries/$keep" \
 && find node_modules/uWebSockets.js -name '*.node' ! -path "*/binaries/$keep" -delete \
 && rm -rf node_modules/uWebSockets.js/docs node_modules/uWebSockets.js/node_modules

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/protocol ./dist/protocol
COPY --from=build /app/dist/services ./dist/services
# Numeric uid:gid of the image's "node" user, so Kubernetes' runAsNonRoot can
# verify it. Files stay root-owned: the process cannot modify its own code.
USER 1000:1000
EXPOSE 8080 8081
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and gets SIGTERM itself; its handler starts the
# gateway's paced drain (the router closes its HTTP server and connections).
ENTRYPOINT ["node", "dist/services/entry.js"]
CMD ["gateway"]

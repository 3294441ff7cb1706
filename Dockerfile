# syntax=docker/dockerfile:1
# One image for every role: `docker run longlink gateway|router|standalone`.
# glibc base (Debian bookworm): on musl (Alpine) uWebSockets.js has no native
# binary and the gateway refuses to start rather than run its slow fallback.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY services ./services
RUN npx tsc -p tsconfig.json --rootDir . --outDir dist \
 && npm prune --omit=dev --no-audit --no-fund \
 # keep only the linux-x64 Node 20 (ABI 115) uWS binary; drop the JS fallback's deps
 && find node_modules/uWebSockets.js/binaries node_modules/uWebSockets.js/dist -name '*.node' ! -name 'uws_linux_x64_115.node' -delete

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/services ./dist/services
USER node
EXPOSE 8080 8081
# Exec form: node itself is PID 1 and installs SIGTERM/SIGINT handlers, so a pod stop triggers the drain.
ENTRYPOINT ["node", "dist/services/entry.js"]
CMD ["gateway"]

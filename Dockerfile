# imagegate in a container: the compiled build (npm run build → dist/) run by plain node as PID 1.
# main.js handles SIGTERM/SIGINT itself (drains in-flight requests, then exits), so `docker stop`
# drains; `docker run --init` additionally reaps any stray child processes.
#   docker build -t imagegate .
#   docker run -p 8080:8080 -v imagegate-data:/data -e IMAGEGATE_ADMIN_TOKEN=... imagegate

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 IMAGEGATE_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/catalog ./catalog
COPY --from=build /app/bin ./bin
# The data dir is the gateway's (0700 inside the volume): the database, stored images and its secrets.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8080
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=32", "dist/main.js"]

# One image for every GreenLane program; docker-compose.yml picks the program with `command`.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json tsconfig.json buf.yaml buf.gen.yaml ./
COPY common/package.json common/
COPY grid-mock/package.json grid-mock/
COPY ingestion/package.json ingestion/
COPY pricing-worker/package.json pricing-worker/
COPY simulator/package.json simulator/
COPY liveops-cli/package.json liveops-cli/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -b && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
USER node
CMD ["npm", "start", "-w", "ingestion"]

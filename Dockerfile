# The vault as a container: compiled JavaScript, production dependencies only, non-root.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production VAULT_ENV=production VAULT_HOST=0.0.0.0 VAULT_PORT=8080 VAULT_DATA_DIR=/var/lib/activity-vault
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY policies ./policies
RUN mkdir -p /var/lib/activity-vault && chown node:node /var/lib/activity-vault
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/src/cli/bin.js"]
CMD ["serve"]

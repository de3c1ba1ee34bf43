/** Default addresses and names of CONTRACTS.md; each is overridable by the variable named beside it. */
export const DEFAULTS = {
  INGESTION_ADDR: '0.0.0.0:50051',
  KAFKA_BROKERS: '127.0.0.1:19092',
  REDIS_URL: 'redis://127.0.0.1:6379',
  GRID_URL: 'http://127.0.0.1:8081',
  /** Development-only token; production must set API_TOKENS. */
  API_TOKEN: 'greenlane-secret-token',
  /** Where `make up` serves the embedded TimescaleDB when DATABASE_URL is unset. */
  EMBEDDED_DATABASE_URL: 'postgres://postgres:postgres@127.0.0.1:55433/postgres?sslmode=disable',
} as const;

export const TOPICS = {
  FLEET_EVENTS: 'fleet-events',
  DEAD_LETTERS: 'fleet-events.dlq',
} as const;

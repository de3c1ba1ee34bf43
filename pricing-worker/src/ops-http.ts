// The ops HTTP server is shared by the services (common/src/ops-http.ts).
export { createOpsServer, listen } from '@greenlane/common/ops-http';

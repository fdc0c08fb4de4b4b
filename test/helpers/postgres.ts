/** Tests start their own PostgreSQL; see src/embedded-postgres.ts. */
export { freePort, startPostgres, type PostgresServer } from '../../src/embedded-postgres.js';

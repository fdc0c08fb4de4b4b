/** Help text shared by several commands. */
export const connectionFlagsNote = `Connections are postgres:// URLs or libpq "key=value" strings; a missing --source
falls back to HYPERFILL_SOURCE, a missing --target (or --connection) to DATABASE_URL and the
PG* variables (environment variables keep passwords out of the process list). Passwords are
never printed.`;

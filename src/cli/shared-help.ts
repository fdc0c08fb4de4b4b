/** Help text shared by several commands. */
export const connectionFlagsNote = `Connections are postgres:// URLs or libpq "key=value" strings; a missing --target
falls back to DATABASE_URL and the PG* variables. Passwords are never printed.`;

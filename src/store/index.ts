export type * from "./types.js";
export { DEFAULT_SETTINGS, RUN_MODES } from "./types.js";
export { TOKEN_SCOPES } from "./api-token-types.js";
export { SqliteStore } from "./sqlite/sqlite-store.js";
export { newToken } from "./token.js";
export { newHisto, isHisto } from "./histo.js";
export { insufficientStorage, storageProblem } from "./storage-errors.js";
export { PgStore, openPgStore, type PgStoreOptions } from "./postgres/pg-store.js";
export { maskDatabaseUrl, parseDatabaseUrl } from "./postgres/connection.js";

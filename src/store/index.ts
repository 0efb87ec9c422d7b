export type * from "./types.js";
export { DEFAULT_SETTINGS } from "./types.js";
export { SqliteStore, newToken } from "./sqlite/sqlite-store.js";
export { newHisto, isHisto } from "./histo.js";

import type { KernelPool } from "../kernel/index.js";
import type { Store } from "../store/index.js";
import type { ServerConfig } from "./config.js";

/** What routes need; built once by `startServer`, passed to every route module. */
export interface ServerDeps {
  config: ServerConfig;
  store: Store;
  /** Bearer token required on /api. */
  apiToken: string;
  /** Kernels started ahead of demand; runs take theirs from here. */
  pool: KernelPool;
  /** Base URL for links (webhook URLs, run outputs), without a trailing slash. */
  baseUrl(): string;
}

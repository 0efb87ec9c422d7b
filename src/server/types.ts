import type { Calls, Links } from "../runs/index.js";
import type { Store } from "../store/index.js";
import type { ServerConfig } from "./config.js";
import type { DiskSpace } from "./disk-space.js";
import type { Metrics } from "./metrics.js";
import type { ReadinessSources } from "./readiness.js";

/** What routes need; built once by `startServer`, passed to every route module. */
export interface ServerDeps {
  config: ServerConfig;
  store: Store;
  /**
   * The admin token in plain text when this start knows it (made, imported or given by
   * NBHOOK_ADMIN_TOKEN now, else the local CLI's copy in <home>/api-token), "" otherwise. Never
   * used to check a request: only the hashes in the store count (server/tokens.ts).
   */
  apiToken: string;
  /** Where webhook calls go (runs/): admission, kernels, runs, answers. */
  calls: Calls;
  /** Every URL the server hands out. */
  links: Links;
  /** The home's free space: calls are refused (507) below `--min-free`. Unset: not checked. */
  disk?: DiskSpace;
  /** The server's metrics; unset with `--no-metrics`. */
  metrics?: Metrics;
  /** What GET /readyz checks; unset: the store only. */
  readiness?: ReadinessSources;
}

import type { KernelPool } from "../kernel/index.js";
import type { Admission } from "../runs/admission.js";
import type { WarmKernels } from "../runs/warm-kernels.js";
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
  /** Kernels prepared ahead for webhooks in `setup` and `reuse` mode (docs/modes.md). */
  warm: WarmKernels;
  /** Runs at once (server `--max-runs`, webhook `max_concurrency`) and the bounded queue. */
  admission: Admission;
  /** Base URL for links (webhook URLs, run outputs), without a trailing slash. */
  baseUrl(): string;
}

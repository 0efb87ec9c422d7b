/**
 * A real nbhook server on 127.0.0.1 (a free port) with its data in a fresh temporary home, for
 * tests of the management API, the SDK and the CLI. No kernel is started by these servers unless a
 * test calls a webhook URL.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import { CLUSTER_TARGET, startClusterApi } from "./cluster-api.js";

export interface TestServer extends RunningServer {
  home: string;
  token: string;
}

/** Starts a server on `home` (default: a new temporary folder); `port` 0 picks a free one. */
export async function startTestServer(options: { home?: string; port?: number } = {}): Promise<TestServer> {
  // The same suites against two API nodes of a cluster on Postgres (npm run test:cluster).
  if (CLUSTER_TARGET && !options.home && !options.port) return startClusterApi();
  const home = options.home ?? mkdtempSync(path.join(os.tmpdir(), "nbhook-home-"));
  // These servers never run a notebook: no kernels started ahead.
  const config = resolveServerConfig({ host: "127.0.0.1", port: options.port ?? 0, home, poolSize: 0 }, {});
  const server = await startServer(config);
  return Object.assign(server, { home, token: server.deps.apiToken });
}

export function removeHome(server: TestServer): void {
  rmSync(server.home, { recursive: true, force: true });
}

/** The port a running test server listens on. */
export function portOf(server: TestServer): number {
  return Number(new URL(server.url).port);
}

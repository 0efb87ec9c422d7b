/**
 * A real cluster for tests (docs/scaling.md): API nodes (`nbhook serve --database … --no-worker`)
 * and workers (`nbhook worker --database …`), each a separate process of the built dist/ with its
 * own home, on a throw-away Postgres database of the test file. Requests go to any API node
 * (`anyApi` turns round-robin), as behind a load balancer.
 *
 * `stopCluster` (afterAll) stops every node (SIGTERM, SIGKILL after a bound), checks that none left
 * a process behind (stopFaultServers), and drops the database.
 */
import { createTestDatabase } from "./postgres.js";
import { randomBytes } from "node:crypto";
import { startFaultServer, stopFaultServers, type FaultServer } from "./fault-server.js";

export interface TestCluster {
  databaseUrl: string;
  databaseName: string;
  apis: FaultServer[];
  workers: FaultServer[];
  /** The API nodes in turn: each call gives the next one. */
  anyApi(): FaultServer;
  /** Starts one more worker (e.g. after one was killed). */
  addWorker(args?: string[]): Promise<FaultServer>;
  addApi(args?: string[]): Promise<FaultServer>;
}

export interface ClusterOptions {
  apis?: number;
  workers?: number;
  /** Flags of every API node (after `--database … --no-worker`). */
  apiArgs?: string[];
  /** Flags of every worker (after `--database …`). */
  workerArgs?: string[];
  env?: Record<string, string>;
}

let current: { drop(): Promise<void> } | undefined;

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const db = await createTestDatabase("nbhook_cluster");
  current = db;
  // Every API node is given the same admin token, as docs/tokens.md says to deploy a cluster.
  const env = { NBHOOK_ADMIN_TOKEN: `nbh_test_${randomBytes(24).toString("base64url")}`, ...options.env };
  const apis: FaultServer[] = [];
  const workers: FaultServer[] = [];
  const addApi = async (args = options.apiArgs ?? []) => {
    const node = await startFaultServer({ args: ["--database", db.url, "--no-worker", ...args], env });
    apis.push(node);
    return node;
  };
  const addWorker = async (args = options.workerArgs ?? []) => {
    const node = await startFaultServer({ command: "worker", args: ["--database", db.url, ...args], env });
    workers.push(node);
    return node;
  };
  // Nodes start at once, as in a deployment: the migrations must not race.
  await Promise.all([
    ...Array.from({ length: options.apis ?? 2 }, () => addApi()),
    ...Array.from({ length: options.workers ?? 2 }, () => addWorker()),
  ]);
  let turn = 0;
  return {
    databaseUrl: db.url,
    databaseName: db.name,
    apis,
    workers,
    anyApi: () => {
      const live = apis.filter((a) => a.child.exitCode === null && a.child.signalCode === null);
      return live[turn++ % live.length]!;
    },
    addWorker,
    addApi,
  };
}

/** Stops every node (and checks none left a process behind), then drops the database. */
export async function stopCluster(): Promise<void> {
  try {
    await stopFaultServers();
  } finally {
    await current?.drop();
    current = undefined;
  }
}

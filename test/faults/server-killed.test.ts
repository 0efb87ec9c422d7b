/**
 * The server SIGKILLed while one call runs and another waits in its queue (`--max-runs 1`), then
 * started again on the same home: no process outlives the killed server (kernels, fork server);
 * the restart closes the interrupted runs as `died`, sweeps the kernel folders the killed server
 * left, and works; the database passes integrity_check and every saved notebook is whole JSON.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import {
  alive,
  call,
  commandLine,
  filesUnder,
  parentOf,
  processesMentioning,
  settled,
  startFaultServer,
  stopFaultServers,
  tempFolder,
  waitFor,
} from "../support/fault-server.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();
afterEach(stopFaultServers);

const ARGS = ["--pool", "1", "--max-runs", "1", "--max-queue", "4"];

function integrity(home: string): unknown {
  const db = new Database(path.join(home, "nbhook.db"), { readonly: true, fileMustExist: true });
  try {
    return db.pragma("integrity_check", { simple: true });
  } finally {
    db.close();
  }
}

const kernelFolders = (home: string) => readdirSync(path.join(home, "kernels")).sort();
const tempKernelFolders = (tmp: string) => readdirSync(tmp).filter((name) => name.startsWith("nbhook-k-"));

describe("the server SIGKILLed with a call running and one queued", () => {
  it("leaves no process; the restart on the same home closes both runs as died, sweeps the kernel folders, and serves", async () => {
    const first = await startFaultServer({ args: ARGS });
    const home = first.home;
    const pidFile = path.join(tempFolder("pid-"), "kernel.pid");
    const slow = await first.deploy("slow", [
      `import os\nwith open(${JSON.stringify(pidFile + ".tmp")}, "w") as f:\n    f.write(str(os.getpid()))\nos.rename(${JSON.stringify(pidFile + ".tmp")}, ${JSON.stringify(pidFile)})`,
      "import time\ntime.sleep(60)",
    ]);
    const fast = await first.deploy("fast", ["import naas\nnaas.webhook.respond_json({'ok': True})"]);
    expect((await call(fast.url)).status).toBe(200); // a finished run, with its saved notebook

    const running = call(slow.url, {}, 60_000).catch((err: Error) => err);
    await waitFor("the first call's kernel is running", () => existsSync(pidFile), 30_000);
    const kernelPid = Number(readFileSync(pidFile, "utf8"));
    const queued = call(slow.url, {}, 60_000).catch((err: Error) => err);
    await waitFor(
      "the second call is queued",
      async () => (await first.runs(slow.id)).some((r) => r.status === "queued"),
      10_000,
    );
    expect((await first.runs(slow.id)).map((r) => r.status).sort()).toEqual(["queued", "running"]);

    const tree = first.descendants();
    expect(tree).toContain(kernelPid);
    // Forked kernels show their fork server's command line: the server is the one Node started.
    const forkServers = tree.filter(
      (pid) => parentOf(pid) === first.pid && commandLine(pid).includes("_forkserver.py"),
    );
    expect(forkServers).toHaveLength(1);
    const before = kernelFolders(home);
    expect(before.length).toBeGreaterThanOrEqual(1);

    const killedAt = Date.now();
    expect(await first.kill("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    // Both callers get a connection error (nothing is left to answer them), not a hang.
    expect(await running).toBeInstanceOf(Error);
    expect(await queued).toBeInstanceOf(Error);

    // Kernels and the fork server die with the server.
    const strays = await settled(() => tree.filter(alive), 5000);
    expect(strays.map((pid) => `${pid} ${commandLine(pid)}`)).toEqual([]);
    const goneMs = Date.now() - killedAt;
    expect(await settled(() => processesMentioning(home), 3000)).toEqual([]);
    expect(tempKernelFolders(first.tmp)).toEqual([]);
    // The database as the crash left it (WAL not checkpointed) is sound.
    expect(integrity(home)).toBe("ok");
    const leftover = kernelFolders(home);

    const second = await startFaultServer({ home, args: ARGS });
    // Logged before it serves, on stdout (its own pipe: it may arrive after the stderr line).
    const warning = (text: string) =>
      second.logLines().find((l) => l.level === 40 && String(l.msg).includes(text));
    await waitFor("the restart's warnings", () => !!warning("closed as died"), 5000);
    expect(warning("closed as died")).toMatchObject({ runs: 2 });
    if (leftover.length > 0) {
      await waitFor("the sweep's warning", () => !!warning("kernel folders"), 5000);
      expect(warning("kernel folders")).toMatchObject({ kernels: leftover.length });
    }

    const runs = await second.runs();
    expect(runs.filter((r) => r.status === "running" || r.status === "queued")).toEqual([]);
    const slowRuns = runs.filter((r) => r.webhook_id === slow.id);
    expect(slowRuns.map((r) => r.status)).toEqual(["died", "died"]);

    // The same webhook URL on the new server's port.
    const after = await call(`${second.url}${new URL(fast.url).pathname}`);
    expect(after.status, after.text).toBe(200);
    expect(after.json()).toEqual({ ok: true });
    await waitFor(
      "the new server's kernels have their folders",
      () => kernelFolders(home).length > 0,
      10_000,
    );
    const now = kernelFolders(home);
    expect(now.filter((name) => before.includes(name) || leftover.includes(name))).toEqual([]);

    for (const file of filesUnder(home).filter((f) => f.endsWith(".ipynb"))) {
      expect(() => JSON.parse(readFileSync(file, "utf8")), file).not.toThrow();
    }
    expect(filesUnder(home).filter((f) => f.endsWith(".ipynb")).length).toBeGreaterThanOrEqual(3);

    const secondTree = second.descendants();
    expect((await second.stop()).code).toBe(0);
    expect(await settled(() => secondTree.filter(alive), 5000)).toEqual([]);
    expect(integrity(home)).toBe("ok");
    expect(tempKernelFolders(second.tmp)).toEqual([]);
    console.info(
      `server-killed: the ${tree.length} processes below the killed server were gone within ${goneMs} ms; ` +
        `${leftover.length} kernel folders left and swept at the restart`,
    );
  });
});

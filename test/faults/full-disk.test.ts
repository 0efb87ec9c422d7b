/**
 * A home on a small tmpfs, filled to the last byte: calls are refused or fail with 507 and a JSON
 * reason, never an ok whose output is missing; no record stays `running`; once space is freed,
 * the records are closed and calls work again; the database passes integrity_check. With
 * `--min-free`, calls are refused (507, Retry-After) before the disk is full.
 *
 * Mounting needs root (or CAP_SYS_ADMIN): elsewhere the file is skipped, saying why.
 */
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, statfsSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { call, deploy, startLoadServer, until } from "../support/load-server.js";

guardKernelLeaks();

const mountPoint = mkdtempSync(path.join(os.tmpdir(), "nbhook-tmpfs-"));
const cannotMount = tryMount(mountPoint, "24m");

function tryMount(dir: string, size: string): string | undefined {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? err).trim()}): run as root`;
  }
}

/** Writes `file` until the disk refuses (ENOSPC), leaving `keepBytes` free at most. */
function fill(file: string, keepBytes = 0): void {
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) {
      const { bavail, bsize } = statfsSync(path.dirname(file));
      if (bavail * bsize <= keepBytes) break;
      const free = bavail * bsize - keepBytes;
      writeSync(fd, chunk, 0, Math.min(chunk.length, Math.max(1, free)));
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
  if (keepBytes === 0) {
    // The last bytes: a block at a time is not enough to reach zero.
    const small = openSync(`${file}.tail`, "w");
    try {
      for (let i = 0; i < 100_000; i++) writeSync(small, Buffer.alloc(1));
    } catch {
      // ENOSPC: full
    } finally {
      closeSync(small);
    }
  }
}

afterAll(() => {
  if (!cannotMount) execFileSync("umount", ["-l", mountPoint]);
  rmdirSync(mountPoint);
});

const NOTEBOOK = ["import naas\nprint('x' * 2000)\nnaas.webhook.respond_json({'ok': True})"];

describe.skipIf(cannotMount !== undefined)(
  `a full disk under the home${cannotMount ? ` (skipped: ${cannotMount})` : ""}`,
  () => {
    let server: RunningServer;
    const home = path.join(mountPoint, "home");
    const filler = path.join(mountPoint, "filler");

    beforeAll(async () => {
      server = await startLoadServer({ home, minFreeBytes: 0 });
    });
    afterAll(async () => {
      await server?.close();
    });

    it("answers 507 with the reason, records no ok run and leaves no run running; works again once space is freed", async () => {
      const hook = await deploy(server, NOTEBOOK);
      expect((await call(hook.url)).status).toBe(200);

      fill(filler);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const answer = await call(hook.url);
        statuses.push(answer.status);
        expect(answer.status, answer.text).not.toBe(200);
        expect(answer.status, answer.text).toBeLessThan(600);
        expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
        if (answer.status === 507) expect(answer.json().error).toBe("insufficient-storage");
      }
      expect(statuses).toContain(507);

      rmSync(filler, { force: true });
      rmSync(`${filler}.tail`, { force: true });
      // Records the store refused to close are closed once it takes writes again.
      await until(async () => {
        const runs = await server.deps.store.listRuns({ webhookId: hook.id, limit: 100 });
        return runs.every((r) => r.status !== "running" && r.status !== "queued");
      }, 15_000);
      const runs = await server.deps.store.listRuns({ webhookId: hook.id, limit: 100 });
      for (const run of runs.filter((r) => r.status === "ok")) {
        expect((await call(`${server.url}/api/runs/${run.id}/output`, auth(server))).status).toBe(200);
      }
      expect(runs.filter((r) => r.status === "ok")).toHaveLength(1); // the call before the disk filled

      const after = await call(hook.url);
      expect(after.status, after.text).toBe(200);
    });

    it("fails a run whose executed notebook cannot be saved with 507, and closes its record once it can", async () => {
      const hook = await deploy(server, ["import time\ntime.sleep(1.5)", ...NOTEBOOK]);
      const pending = call(hook.url);
      await new Promise((r) => setTimeout(r, 500));
      fill(filler);
      const answer = await pending;
      expect(answer.status, answer.text).toBe(507);
      expect(answer.json().message).toMatch(
        /the executed notebook could not be saved: (no space|the database or disk)/,
      );
      const runId = answer.json<{ id?: string }>().id;
      expect(runId).toBeDefined();
      rmSync(filler, { force: true });
      rmSync(`${filler}.tail`, { force: true });
      await until(async () => (await server.deps.store.getRun(runId!))?.status !== "running", 15_000);
      expect(await server.deps.store.getRun(runId!)).toMatchObject({
        status: "error",
        httpStatus: 507,
        error: { ename: "InsufficientStorage" },
      });
    });

    it("refuses calls with 507 and Retry-After below --min-free, before the disk is full", async () => {
      await server.close();
      server = await startLoadServer({ home, minFreeBytes: 8 * 1024 * 1024 });
      const hook = await deploy(server, NOTEBOOK);
      fill(filler, 4 * 1024 * 1024);
      const answer = await call(hook.url);
      expect(answer.status, answer.text).toBe(507);
      expect(answer.headers.get("retry-after")).toBe("60");
      expect(answer.json().message).toMatch(/almost full .*--min-free/);
      rmSync(filler, { force: true });
      await new Promise((r) => setTimeout(r, 1100)); // the free space is measured once a second
      expect((await call(hook.url)).status).toBe(200);
    });

    it("leaves a database that passes integrity_check", async () => {
      await server.close();
      const db = new Database(path.join(home, "nbhook.db"), { readonly: true });
      try {
        expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      } finally {
        db.close();
      }
      server = await startLoadServer({ home, minFreeBytes: 0 });
    });
  },
);

function auth(server: RunningServer): RequestInit {
  return { headers: { authorization: `Bearer ${server.deps.apiToken}` } };
}

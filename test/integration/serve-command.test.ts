import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();
const cli = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const children: ChildProcess[] = [];
const homes: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
  }
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

function serve(args: string[]): {
  child: ChildProcess;
  output: Promise<{ code: number | null; stderr: string }>;
  ready: Promise<string>;
} {
  const child = spawn(process.execPath, [cli, "serve", "-q", "--pool", "0", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.push(child);
  let stderr = "";
  const ready = new Promise<string>((resolve) => {
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      const m = /serving on (\S+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
  });
  const output = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once("exit", (code) => resolve({ code, stderr })),
  );
  return { child, output, ready };
}

const home = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nbhook-serve-"));
  homes.push(dir);
  return dir;
};

describe("nbhook serve", () => {
  it("refuses a second server on the same home, naming the first one's pid", async () => {
    const shared = home();
    const first = serve(["--port", "0", "--home", shared]);
    await first.ready;
    const second = serve(["--port", "0", "--home", shared]);
    const { code, stderr } = await second.output;
    expect(code).toBe(2);
    expect(stderr).toContain(`another nbhook server (pid ${first.child.pid}) is using ${shared}`);
  });

  it("says which port is taken instead of crashing", async () => {
    const first = serve(["--port", "0", "--home", home()]);
    const port = new URL(await first.ready).port;
    const second = serve(["--port", port, "--home", home()]);
    const { code, stderr } = await second.output;
    expect(code).toBe(2);
    expect(stderr).toContain(
      `127.0.0.1:${port} is already in use (another nbhook serve?): choose another with --port`,
    );
    expect(stderr).not.toContain("unexpected error");
  });

  it("takes over the lock of a server that is gone", async () => {
    const dir = home();
    const first = serve(["--port", "0", "--home", dir]);
    await first.ready;
    first.child.kill("SIGKILL");
    await first.output;
    const second = serve(["--port", "0", "--home", dir]);
    expect(await second.ready).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

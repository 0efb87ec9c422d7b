import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

describe("nbhook serve with a config file", () => {
  it("reads the home's nbhook.toml (below the flags) and says so", async () => {
    const dir = home();
    writeFileSync(path.join(dir, "nbhook.toml"), 'metrics = false\nport = 1\nlog_format = "json"\n');
    const server = serve(["--port", "0", "--home", dir]); // the flag wins over the file's port
    const url = await server.ready;
    const token = readFileSync(path.join(dir, "api-token"), "utf8").trim();
    const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404); // metrics = false, without --no-metrics typed
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    server.child.kill("SIGTERM");
    const { stderr } = await server.output;
    expect(stderr).toContain(`nbhook: settings from ${path.join(dir, "nbhook.toml")}`);
    expect(stderr).toContain("nbhook: metrics are off");
  });

  it("stops with exit 2 naming every bad key of the file", async () => {
    const dir = home();
    writeFileSync(
      path.join(dir, "nbhook.json"),
      JSON.stringify({ port: "high", max_queue: -1, colour: "red" }),
    );
    const { code, stderr } = await serve(["--home", dir]).output;
    expect(code).toBe(2);
    const file = path.join(dir, "nbhook.json");
    expect(stderr).toContain(`colour in ${file}: unknown key`);
    expect(stderr).toContain(`port in ${file} must be a port number from 0 to 65535 (got "high")`);
    expect(stderr).toContain(`max_queue in ${file} must be a whole number from 0 to 100000 (got "-1")`);
  });
});

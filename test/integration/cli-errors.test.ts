/**
 * How the built CLI (`node dist/cli/main.js`, so `npm run build` first) ends on bad settings and on
 * a reader that stops early: a bad setting is exit 2 with one line naming the flag or variable, and
 * output cut by `| head -1` ends quietly. A server that starts by mistake is killed, and fails the
 * test; no kernel is started.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { AppError } from "../../src/errors.js";
import { resolveServerConfig } from "../../src/server/config.js";

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), "nbhook-cli-errors-"));
const running = new Set<ChildProcess>();

afterEach(() => {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Still running after the time limit, then killed: a server that should not have started. */
  killed: boolean;
}

/** Runs `command args` with a clean environment plus `env`, HOME and NBHOOK_HOME in scratch. */
function run(command: string, args: string[], env: Record<string, string> = {}): Promise<Ended> {
  const home = mkdtempSync(path.join(scratch, "home-"));
  const child = spawn(command, args, {
    cwd: scratch,
    env: { PATH: process.env.PATH ?? "", HOME: home, NBHOOK_HOME: path.join(home, ".nbhook"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, 15_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr, killed });
    });
  });
}

const nbhook = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [CLI, ...args], env);

/** `nbhook args | reader` through a real pipe; stdout is the reader's, code nbhook's own. */
const piped = (args: string, reader: string) =>
  run("bash", [
    "-c",
    `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} ${args} | ${reader}; exit "\${PIPESTATUS[0]}"`,
  ]);

function expectUsageLine(ended: Ended, ...names: string[]): string {
  expect(ended.killed).toBe(false);
  expect(ended.code).toBe(2);
  const lines = ended.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  const line = lines[0]!;
  expect(line).toMatch(/^nbhook: /);
  for (const name of names) expect(line).toContain(name);
  expect(line).not.toContain("unexpected error");
  expect(line).not.toContain("ZodError");
  return line;
}

describe("nbhook serve with a bad setting", () => {
  it("exits 2 with one line naming NBHOOK_PORT, what it must be and what it was", async () => {
    const line = expectUsageLine(await nbhook(["serve"], { NBHOOK_PORT: "abc" }), "NBHOOK_PORT");
    expect(line).toBe('nbhook: NBHOOK_PORT must be a port number from 0 to 65535 (got "abc")');
  });

  it("names --port when the flag is wrong", async () => {
    const line = expectUsageLine(await nbhook(["serve", "--port", "70000"]), "--port");
    expect(line).toContain('(got "70000")');
  });

  it("names NBHOOK_MAX_RUNS when it is not a number of runs", async () => {
    const line = expectUsageLine(await nbhook(["serve"], { NBHOOK_MAX_RUNS: "0" }), "NBHOOK_MAX_RUNS");
    expect(line).toContain("from 1 to 1024");
  });

  it("names NBHOOK_SMTP_PORT when the mail server's port is wrong", async () => {
    const ended = await nbhook(["serve"], { NBHOOK_SMTP_HOST: "mail.example.com", NBHOOK_SMTP_PORT: "smtp" });
    expectUsageLine(ended, "NBHOOK_SMTP_PORT", '"smtp"');
  });

  it("names every bad value at once, flags and variables alike", async () => {
    const ended = await nbhook(["serve", "--max-runs", "many"], { NBHOOK_PORT: "-1" });
    expectUsageLine(ended, "NBHOOK_PORT", "--max-runs", '"many"', '"-1"');
  });

  it("takes the flag over the variable, so a bad variable the flag replaces is not an error", async () => {
    const ended = await nbhook(["serve", "--port", "abc"], { NBHOOK_PORT: "also-bad" });
    expectUsageLine(ended, "--port");
    expect(ended.stderr).not.toContain("NBHOOK_PORT");
  });
});

describe("resolveServerConfig", () => {
  it("checks values given in code as well, naming their flag", () => {
    expect(() => resolveServerConfig({ port: 0, poolSize: 99, defaultTimeoutMs: 0 }, {})).toThrow(
      /^--timeout must be a number of seconds greater than 0 \(got "0"\); --pool must be a whole number from 0 to 64 \(got "99"\)$/,
    );
  });

  it("throws usage errors, and treats an empty variable as unset", () => {
    let thrown: unknown;
    try {
      resolveServerConfig({}, { NBHOOK_BASE_URL: "hooks.example.com" });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).code).toBe("usage");
    expect(resolveServerConfig({ home: scratch }, { NBHOOK_PORT: "", NBHOOK_HOST: "" })).toMatchObject({
      host: "127.0.0.1",
      port: 5000,
    });
  });

  it("reads the flags' text in the flags' units, and the SMTP settings from the environment", () => {
    const config = resolveServerConfig(
      { port: "8080", defaultTimeoutMs: "1.5", home: "rel" },
      {
        NBHOOK_SMTP_HOST: "mail.example.com",
        NBHOOK_SMTP_PORT: "465",
        NBHOOK_SMTP_FROM: "hooks <hooks@example.com>",
      },
    );
    expect(config).toMatchObject({ port: 8080, defaultTimeoutMs: 1500, home: path.resolve("rel") });
    expect(config.smtp).toEqual({
      host: "mail.example.com",
      port: 465,
      secure: true,
      from: "hooks <hooks@example.com>",
    });
  });
});

describe("an error no command expected", () => {
  it("is described field by field when a value does not fit its schema, and exits 2", async () => {
    // A "Python" that answers the site-packages query with the wrong fields.
    const python = path.join(scratch, "fake-python");
    writeFileSync(python, `#!/bin/sh\necho '{"version": 3, "executable": "/x"}'\n`);
    chmodSync(python, 0o755);
    const line = expectUsageLine(
      await nbhook(["python-path", "--install", "--python", python]),
      "version:",
      "user_site:",
    );
    expect(line).toMatch(/^nbhook: invalid values: version: .*; user_site: /);
    expect(line).not.toContain("[");
  });
});

describe("output cut short by the reader", () => {
  it("ends `nbhook run --help | head -1` quietly, with exit 0", async () => {
    const ended = await piped("run --help", "head -1");
    expect(ended).toEqual({
      code: 0,
      stdout: "Usage: nbhook run [options] <notebook>\n",
      stderr: "",
      killed: false,
    });
  });

  it("ends `nbhook kernels | head -1` quietly, with exit 0", async () => {
    const ended = await piped("kernels", "head -1");
    expect(ended).toMatchObject({ code: 0, stderr: "", killed: false });
    expect(ended.stdout).toMatch(/^NAME +LANGUAGE/);
  });

  it("ends quietly when the reader has gone before the first write", async () => {
    // `true` reads nothing and exits at once, long before node has started: every write fails.
    for (const args of ["kernels", "kernels --json", "--help", "run --help"]) {
      expect(await piped(args, "true")).toEqual({ code: 0, stdout: "", stderr: "", killed: false });
    }
  });
});

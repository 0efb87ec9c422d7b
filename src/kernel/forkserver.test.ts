import { chmodSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { guardKernelLeaks } from "../../test/support/kernel-leaks.js";
import { forkKernel, stopForkServers } from "./forkserver.js";
import type { KernelSpec } from "./kernelspec.js";
import { onKernelWarning, type KernelWarning } from "./warnings.js";

// Fork servers played by shell scripts: the Node side of the protocol, without Python.
const tmp = guardKernelLeaks();
let count = 0;
const warnings: KernelWarning[] = [];
const unsubscribe = onKernelWarning((w) => warnings.push(w));

afterEach(async () => {
  await stopForkServers();
  warnings.length = 0;
});
afterAll(() => unsubscribe());

/** A launch through a fork server that writes `lines` (after reading the launch request). */
function launchWith(lines: string[]) {
  const python = path.join(tmp, `python-${++count}`);
  const [ready, ...replies] = lines;
  const echo = (line: string) => `printf '%s\\n' '${line}'`;
  writeFileSync(
    python,
    ["#!/bin/sh", echo(ready!), "read request", ...replies.map(echo), "cat >/dev/null", ""].join("\n"),
  );
  chmodSync(python, 0o755);
  const argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"];
  const spec: KernelSpec = {
    name: `fake-python-${count}`,
    argv,
    displayName: "fake",
    language: "python",
    env: {},
    interruptMode: "signal",
    resourceDir: tmp,
  };
  const env = { PATH: process.env.PATH ?? "" };
  return forkKernel(spec, { argv, cwd: tmp, env, baseEnv: env, log: path.join(tmp, "log"), tmpRoot: tmp });
}

const READY = '{"ready": true, "pid": 1, "python": "3.11.2", "ipykernel": "6.17.0"}';

describe("the fork server protocol", () => {
  it("gives a forked kernel whose exit is reported as the server wrote it", async () => {
    const forked = await launchWith([
      READY,
      '{"id": 1, "pid": 999999999}',
      '{"exit": 999999999, "code": 7, "signal": null}',
    ]);
    expect(forked?.pid).toBe(999999999);
    expect(await forked?.exited).toEqual({ code: 7, signal: null });
    expect(warnings).toEqual([]);
  });

  it("forks, with one warning, when the server could not build the template shell", async () => {
    const ready = READY.replace("}", ', "shell": "AttributeError: no init_profile_dir"}');
    const forked = await launchWith([
      ready,
      '{"id": 1, "pid": 999999997}',
      '{"exit": 999999997, "code": 0, "signal": null}',
    ]);
    expect(forked?.pid).toBe(999999997);
    expect(warnings).toEqual([
      {
        code: "forkserver-no-template",
        message: expect.stringContaining(
          "(AttributeError: no init_profile_dir); forked kernels build their own",
        ),
      },
    ]);
  });

  it("notes a signal Node has no name for, rather than failing the server", async () => {
    const forked = await launchWith([
      READY,
      '{"id": 1, "pid": 999999998}',
      '{"exit": 999999998, "code": null, "signal": "SIG40"}',
    ]);
    expect(await forked?.exited).toEqual({ code: null, signal: null, note: "killed by signal SIG40" });
  });

  it("spawns instead, with one warning quoting the line, when a line fails its schema", async () => {
    expect(await launchWith(['{"ready": "yes"}'])).toBeUndefined();
    expect(warnings).toEqual([
      {
        code: "forkserver-fallback",
        message: expect.stringMatching(/sent an unexpected line: \{"ready": "yes"\}.*spawning/),
      },
    ]);
  });

  it("spawns instead when a line is not JSON", async () => {
    expect(await launchWith(["Traceback (most recent call last):"])).toBeUndefined();
    expect(warnings[0]?.message).toMatch(/wrote unexpected output: Traceback/);
  });

  it("spawns instead, with the server's reason, when it cannot fork a kernel", async () => {
    expect(
      await launchWith([READY, '{"id": 1, "error": "OSError: [Errno 12] Cannot allocate memory"}']),
    ).toBeUndefined();
    expect(warnings[0]?.message).toMatch(
      /could not fork a kernel \(OSError: \[Errno 12\] Cannot allocate memory\)/,
    );
  });

  it("spawns instead when the server refuses to serve", async () => {
    expect(await launchWith(['{"refused": "threads exist after the imports"}'])).toBeUndefined();
    expect(warnings[0]?.message).toMatch(/refused to serve: threads exist after the imports/);
  });
});

/**
 * A kernel SIGKILLed in the middle of a run, on a real `nbhook serve` process: the caller gets a
 * JSON 500 `kernel-died` soon after, the run is recorded `died`, the next call works, and no
 * kernel process (nor its folder) stays behind.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  alive,
  call,
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

/** Writes the kernel's pid and IPYTHONDIR to `file` (atomically), then sleeps unless `quick`. */
function pidThenSleep(file: string) {
  return [
    { source: "quick = False", tags: ["parameters"] },
    `import os\nwith open(${JSON.stringify(file + ".tmp")}, "w") as f:\n    f.write(f"{os.getpid()}\\n{os.environ['IPYTHONDIR']}")\nos.rename(${JSON.stringify(file + ".tmp")}, ${JSON.stringify(file)})`,
    "import time\nif not quick:\n    time.sleep(60)",
    "import naas\nnaas.webhook.respond_json({'ok': True, 'pid': os.getpid()})",
  ];
}

describe("a kernel SIGKILLed during a run", () => {
  it("answers a JSON 500 kernel-died, records the run died, runs the next call, leaves no kernel behind", async () => {
    const server = await startFaultServer({ args: ["--pool", "1", "--max-runs", "2"] });
    const pidFile = path.join(tempFolder("pid-"), "kernel.pid");
    const hook = await server.deploy("victim", pidThenSleep(pidFile), { timeout_s: 120 });

    const pending = call(hook.url, {}, 60_000);
    await waitFor("the run wrote its kernel's pid", () => existsSync(pidFile), 30_000);
    const [pidText, ipythonDir] = readFileSync(pidFile, "utf8").split("\n");
    const kernelPid = Number(pidText);
    expect(server.descendants()).toContain(kernelPid);
    const folder = path.dirname(ipythonDir!); // the kernel's private folder
    expect(path.dirname(folder)).toBe(path.join(server.home, "kernels"));
    const killedAt = Date.now();
    process.kill(kernelPid, "SIGKILL");
    const answer = await pending;
    const waitedMs = Date.now() - killedAt;
    console.info(`kernel-killed: the caller waited ${waitedMs} ms after the SIGKILL`);

    expect(answer.status, answer.text).toBe(500);
    expect(answer.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const body = answer.json<{ error: string; message: string; id: string; status: string; ename: string }>();
    expect(body).toMatchObject({
      error: "kernel-died",
      status: "died",
      message: expect.stringMatching(/kernel died/),
    });
    expect(body.id).toBe(answer.headers.get("x-nbhook-run-id"));
    expect(waitedMs).toBeLessThan(10_000); // "reported within about a second"; generous on a loaded machine

    const run = await server.run(body.id);
    expect(run).toMatchObject({ status: "died", http_status: 500 });
    expect(alive(kernelPid)).toBe(false);
    expect(server.descendants()).not.toContain(kernelPid);
    await waitFor("the dead kernel's folder is removed", () => !existsSync(folder), 5000);

    const next = await call(`${hook.url}?quick=true`);
    expect(next.status, next.text).toBe(200);
    const nextPid = next.json<{ ok: boolean; pid: number }>().pid;
    expect(nextPid).not.toBe(kernelPid);
    expect((await server.runs(hook.id)).map((r) => r.status)).toEqual(["ok", "died"]);

    // A clean stop afterwards: every process of the server gone. (That it also leaves no kernel
    // folder is clean-stop.test.ts's, where the stop meets a kernel still starting on purpose.)
    const tree = server.descendants();
    expect((await server.stop()).code).toBe(0);
    expect(await settled(() => tree.filter(alive), 5000)).toEqual([]);
    expect(await settled(() => processesMentioning(server.home), 3000)).toEqual([]);
    expect(readdirSync(server.tmp).filter((name) => name.startsWith("nbhook-k-"))).toEqual([]);
  });
});

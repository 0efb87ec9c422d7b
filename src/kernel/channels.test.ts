import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { connectRetryingInterrupts } from "./channels.js";

// The child runs the built module (npm test builds first), as the server does.
const built = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "dist",
  "kernel",
  "channels.js",
);

describe("connectRetryingInterrupts", () => {
  it("connects every time while a profiler's SIGPROF keeps interrupting the thread", () => {
    // A real libzmq under real signals: `node --cpu-prof` samples with SIGPROF (every 20 µs here),
    // which made ~1 plain connect in 800 fail with EINTR. The child counts both kinds.
    const dir = mkdtempSync(path.join(os.tmpdir(), "nbhook-eintr-"));
    const script = `
      import * as zmq from "zeromq";
      import { connectRetryingInterrupts } from ${JSON.stringify(built)};
      let plain = 0, retried = 0, zmqSockets = 0;
      const until = Date.now() + 2500;
      for (let i = 0; i < 40000 && Date.now() < until; i++) {
        // libzmq reaps closed sockets on its own thread: give it time, and more when it lags.
        if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
        if (zmqSockets >= 400) { await new Promise((r) => setTimeout(r, 5)); zmqSockets = 0; }
        zmqSockets += 2;
        const a = new zmq.Dealer({ linger: 0 });
        const b = new zmq.Dealer({ linger: 0 });
        try { a.connect("ipc://${dir}/a-" + (i % 8)); } catch (err) { if (err.code === "EINTR") plain++; else throw err; }
        try { connectRetryingInterrupts(b, "ipc://${dir}/b-" + (i % 8)); } catch (err) { retried++; }
        a.close();
        b.close();
      }
      console.log(JSON.stringify({ plain, retried }));
    `;
    try {
      const child = spawnSync(
        process.execPath,
        [
          "--cpu-prof",
          "--cpu-prof-dir",
          dir,
          "--cpu-prof-interval",
          "20",
          "--input-type=module",
          "-e",
          script,
        ],
        { encoding: "utf8", timeout: 30_000 },
      );
      expect(child.status, child.stderr).toBe(0);
      const counts = JSON.parse(child.stdout.trim().split("\n").pop()!) as { plain: number; retried: number };
      expect(counts.retried).toBe(0);
      // The signals did interrupt connects (else this test proves nothing on this machine).
      expect(counts.plain).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);

  it("passes any other error on at once, and EINTR after a bounded number of tries", () => {
    const socket = new zmq.Dealer({ linger: 0 });
    try {
      expect(() => connectRetryingInterrupts(socket, "nosuchtransport://x")).toThrow();
    } finally {
      socket.close();
    }
    let tries = 0;
    const interrupted = {
      connect() {
        tries++;
        throw Object.assign(new Error("Interrupted system call"), { code: "EINTR" });
      },
    };
    expect(() => connectRetryingInterrupts(interrupted, "ipc:///nowhere")).toThrow(/Interrupted/);
    expect(tries).toBe(50);
  });
});

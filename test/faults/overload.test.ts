/**
 * Ten times the capacity at once, on a real `nbhook serve` process: `--max-runs 2 --max-queue 4`
 * (six calls in), sixty calls sent together to a notebook that sleeps 0.2 s. Every caller gets an
 * answer, and it is the run's (200) or a JSON 503 busy with Retry-After: no other status, no
 * connection error. Afterwards the server answers and no run is left open.
 */
import { afterEach, describe, expect, it } from "vitest";
import { call, startFaultServer, stopFaultServers, type Answer } from "../support/fault-server.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();
afterEach(stopFaultServers);

const CALLS = 60;

describe("ten times the capacity at once", () => {
  it("answers every call 200 or 503 busy with Retry-After and a JSON body, and keeps serving", async () => {
    const server = await startFaultServer({ args: ["--max-runs", "2", "--max-queue", "4", "--pool", "1"] });
    const hook = await server.deploy("busy", [
      "import time\ntime.sleep(0.2)",
      "import naas\nnaas.webhook.respond_text('done')",
    ]);

    const started = Date.now();
    const settledCalls = await Promise.allSettled(
      Array.from({ length: CALLS }, (_, i) => call(`${hook.url}?i=${i}`, {}, 60_000)),
    );
    const elapsedMs = Date.now() - started;
    const failures = settledCalls
      .filter((s): s is PromiseRejectedResult => s.status === "rejected")
      .map((s) => String((s.reason as Error & { cause?: unknown }).cause ?? s.reason));
    expect(failures, "calls without an HTTP answer").toEqual([]);
    const answers = settledCalls.map((s) => (s as PromiseFulfilledResult<Answer>).value);

    const counts: Record<number, number> = {};
    for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
    const retryAfter = [...new Set(answers.map((a) => a.headers.get("retry-after")).filter(Boolean))];
    console.info(
      `overload: ${JSON.stringify(counts)} in ${elapsedMs} ms; Retry-After ${retryAfter.join(", ")}`,
    );
    for (const status of Object.keys(counts)) expect(["200", "503"]).toContain(status);

    for (const a of answers) {
      expect(a.headers.get("content-type")).toMatch(/^(text\/plain|application\/json); charset=utf-8$/);
      if (a.status === 200) {
        expect(a.text).toBe("done");
        continue;
      }
      expect(a.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(a.json()).toMatchObject({ error: "busy", message: expect.stringContaining("busy") });
      expect(a.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    }
    expect(counts[200]).toBeGreaterThanOrEqual(6); // two running and four queued got in at least
    expect(counts[503]).toBeGreaterThanOrEqual(1);

    // Still serving, with every place freed: six of a new burst of twelve get in.
    const again = await Promise.all(Array.from({ length: 12 }, () => call(hook.url, {}, 60_000)));
    expect(again.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(6);
    expect(again.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);

    // Every admitted call has an ok run, refused ones left no record, none is open.
    const runs = await server.runs(hook.id);
    expect(runs.filter((r) => r.status !== "ok").map((r) => r.status)).toEqual([]);
    const okIds = [...answers, ...again]
      .filter((a) => a.status === 200)
      .map((a) => a.headers.get("x-nbhook-run-id"));
    expect(new Set(runs.map((r) => r.id))).toEqual(new Set(okIds));
    expect(runs).toHaveLength(okIds.length);
  });
});

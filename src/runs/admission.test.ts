import { afterEach, describe, expect, it, vi } from "vitest";
import { Admission, AdmissionRefused, type Ticket } from "./admission.js";

const settled = async (ticket: Ticket) =>
  Promise.race([
    ticket.slot.then(
      () => "admitted",
      (err: AdmissionRefused) => err.reason,
    ),
    new Promise((resolve) => setImmediate(() => resolve("waiting"))),
  ]);

const refusalOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as AdmissionRefused;
  }
  throw new Error("expected a refusal");
};

afterEach(() => {
  vi.useRealTimers();
});

describe("Admission", () => {
  it("admits up to maxRuns at once and queues the rest in arrival order", async () => {
    const admission = new Admission({ maxRuns: 2, maxQueue: 5 });
    const tickets = ["a", "b", "c", "d"].map((key) => admission.enter({ key, limit: null }));
    expect(tickets.map((t) => t.state)).toEqual(["running", "running", "queued", "queued"]);
    expect([admission.running, admission.queued]).toEqual([2, 2]);
    (await tickets[0]!.slot).release();
    expect(await settled(tickets[2]!)).toBe("admitted");
    expect(tickets[3]!.state).toBe("queued");
    (await tickets[1]!.slot).release();
    expect(await settled(tickets[3]!)).toBe("admitted");
  });

  it("refuses with queue-full once the queue holds maxQueue calls", () => {
    const admission = new Admission({ maxRuns: 1, maxQueue: 1 });
    admission.enter({ key: "a", limit: null });
    admission.enter({ key: "a", limit: null });
    const err = refusalOf(() => admission.enter({ key: "a", limit: null }));
    expect(err).toBeInstanceOf(AdmissionRefused);
    expect(err.reason).toBe("queue-full");
    expect(err.retryAfterS).toBeGreaterThanOrEqual(1);
  });

  it("refuses at once with a queue of 0 when no slot is free", () => {
    const admission = new Admission({ maxRuns: 1, maxQueue: 0 });
    expect(admission.enter({ key: "a", limit: null }).state).toBe("running");
    expect(refusalOf(() => admission.enter({ key: "b", limit: null })).reason).toBe("queue-full");
  });

  it("holds a key at its own limit while other keys behind it run", async () => {
    const admission = new Admission({ maxRuns: 4, maxQueue: 5 });
    const a1 = admission.enter({ key: "a", limit: 1 });
    const a2 = admission.enter({ key: "a", limit: 1 });
    const b1 = admission.enter({ key: "b", limit: 1 });
    expect([a1.state, a2.state, b1.state]).toEqual(["running", "queued", "running"]);
    (await b1.slot).release();
    expect(a2.state).toBe("queued");
    (await a1.slot).release();
    expect(a2.state).toBe("running");
  });

  it("gives a freed slot to the oldest call that may run, skipping one held by its key's limit", async () => {
    const admission = new Admission({ maxRuns: 2, maxQueue: 5 });
    const a1 = admission.enter({ key: "a", limit: 1 });
    const other = admission.enter({ key: "x", limit: null });
    const a2 = admission.enter({ key: "a", limit: 1 });
    const b1 = admission.enter({ key: "b", limit: null });
    (await other.slot).release();
    expect([a2.state, b1.state]).toEqual(["queued", "running"]);
    (await a1.slot).release();
    expect(a2.state).toBe("running");
  });

  it("takes a cancelled call out of the queue, freeing its place", async () => {
    const admission = new Admission({ maxRuns: 1, maxQueue: 1 });
    const running = admission.enter({ key: "a", limit: null });
    const waiting = admission.enter({ key: "a", limit: null });
    waiting.cancel();
    expect(await settled(waiting)).toBe("caller-gone");
    expect(admission.queued).toBe(0);
    const next = admission.enter({ key: "a", limit: null });
    expect(next.state).toBe("queued");
    running.cancel(); // admitted already: no effect
    expect(running.state).toBe("running");
  });

  it("refuses a call that waited longer than its maxWaitMs", async () => {
    vi.useFakeTimers();
    const admission = new Admission({ maxRuns: 1, maxQueue: 2 });
    admission.enter({ key: "a", limit: null });
    const waiting = admission.enter({ key: "a", limit: null, maxWaitMs: 1000 });
    vi.advanceTimersByTime(999);
    expect(waiting.state).toBe("queued");
    vi.advanceTimersByTime(1);
    await expect(waiting.slot).rejects.toMatchObject({ reason: "queue-timeout" });
    expect(admission.queued).toBe(0);
  });

  it("refuses every waiting call when closed, lets running ones finish, and refuses later calls", async () => {
    const admission = new Admission({ maxRuns: 1, maxQueue: 3 });
    const running = admission.enter({ key: "a", limit: null });
    const waiting = [admission.enter({ key: "a", limit: null }), admission.enter({ key: "b", limit: null })];
    admission.close();
    for (const ticket of waiting) await expect(ticket.slot).rejects.toMatchObject({ reason: "closing" });
    expect(running.state).toBe("running");
    expect(refusalOf(() => admission.enter({ key: "c", limit: null })).reason).toBe("closing");
    (await running.slot).release();
    expect([admission.running, admission.queued]).toEqual([0, 0]);
  });

  it("releases a slot once however often release is called", async () => {
    const admission = new Admission({ maxRuns: 1, maxQueue: 2 });
    const first = await admission.enter({ key: "a", limit: null }).slot;
    const second = admission.enter({ key: "a", limit: null });
    const third = admission.enter({ key: "a", limit: null });
    first.release();
    first.release();
    expect([second.state, third.state]).toEqual(["running", "queued"]);
  });

  it("estimates Retry-After from recent run durations and the elapsed time of the runs going", async () => {
    let now = 0;
    const admission = new Admission({ maxRuns: 1, maxQueue: 0, now: () => now });
    expect(admission.retryAfterSeconds()).toBe(1); // nothing known: the least
    const first = await admission.enter({ key: "a", limit: null }).slot;
    now = 4000;
    expect(admission.retryAfterSeconds()).toBe(4); // no history: as long again as it has run
    first.release(); // one run of 4 s
    await admission.enter({ key: "a", limit: null }).slot;
    now = 5000;
    expect(admission.retryAfterSeconds()).toBe(3); // 4 s on average, 1 s done
    now = 20_000;
    expect(admission.retryAfterSeconds()).toBe(1); // overdue: the least
  });
});

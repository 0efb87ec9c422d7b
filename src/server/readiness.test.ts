import { describe, expect, it } from "vitest";
import { checkReadiness } from "./readiness.js";

const store = { isSessionRevoked: async () => false };

describe("checkReadiness", () => {
  it("is not ready when no kernelspec is installed, and says how to install one", async () => {
    const result = await checkReadiness({ store, kernels: { pool: () => [], findSpecs: async () => [] } });
    expect(result.ready).toBe(false);
    expect(result.checks[1]).toMatchObject({ name: "kernels", ok: false });
    expect(result.checks[1]!.message).toContain("python3 -m ipykernel install --user");
  });

  it("on an API node without a worker: ready only with a live worker", async () => {
    const none = await checkReadiness({ store, liveWorkers: async () => 0 });
    expect(none.ready).toBe(false);
    expect(none.checks[1]!.message).toContain("nbhook worker");
    const one = await checkReadiness({ store, liveWorkers: async () => 1 });
    expect(one).toEqual({
      ready: true,
      checks: [
        { name: "store", ok: true, message: "the database answers" },
        { name: "workers", ok: true, message: "1 workers alive" },
      ],
    });
  });

  it("is not ready while the server stops", async () => {
    const result = await checkReadiness({ store, stopping: () => true });
    expect(result.ready).toBe(false);
    expect(result.checks[0]).toMatchObject({ name: "server", ok: false });
  });
});

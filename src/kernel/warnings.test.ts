import { afterEach, describe, expect, it, vi } from "vitest";
import { onKernelWarning, warnKernel, type KernelWarning } from "./warnings.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("kernel warnings", () => {
  it("go to every subscriber, and to nobody once unsubscribed", () => {
    const seen: KernelWarning[] = [];
    const emit = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    const off = onKernelWarning((w) => seen.push(w));
    const warning: KernelWarning = { code: "kernelspec-invalid", message: "m", file: "/k/kernel.json" };
    warnKernel(warning);
    off();
    warnKernel({ code: "forkserver-fallback", message: "later" });
    expect(seen).toEqual([warning]);
    expect(emit).toHaveBeenCalledTimes(1); // the second, with nobody subscribed
    expect(emit).toHaveBeenCalledWith("later", { code: "NBHOOK_FORKSERVER" });
  });

  it("survive a subscriber that throws", () => {
    const seen: string[] = [];
    const offBad = onKernelWarning(() => {
      throw new Error("logger down");
    });
    const offGood = onKernelWarning((w) => seen.push(w.message));
    expect(() => warnKernel({ code: "forkserver-fallback", message: "m" })).not.toThrow();
    offBad();
    offGood();
    expect(seen).toEqual(["m"]);
  });
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { findKernelSpecs } from "./kernelspec.js";
import { onKernelWarning, type KernelWarning } from "./warnings.js";

const dirs: string[] = [];
const unsubscribes: (() => void)[] = [];

afterEach(() => {
  unsubscribes.splice(0).forEach((off) => off());
  vi.restoreAllMocks();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A private Jupyter data folder with these `kernels/<name>/kernel.json` texts; an env pointing at it. */
function jupyterPath(kernels: Record<string, string>): { env: NodeJS.ProcessEnv; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nbhook-specs-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(kernels)) {
    mkdirSync(path.join(dir, "kernels", name), { recursive: true });
    writeFileSync(path.join(dir, "kernels", name, "kernel.json"), text);
  }
  // The user data folder is the same private one, so no real user kernel interferes.
  return { dir, env: { JUPYTER_PATH: dir, JUPYTER_DATA_DIR: dir, HOME: dir } };
}

function collectWarnings(): KernelWarning[] {
  const warnings: KernelWarning[] = [];
  unsubscribes.push(onKernelWarning((w) => warnings.push(w)));
  return warnings;
}

const good = JSON.stringify({
  argv: ["/bin/true", "{connection_file}"],
  display_name: "Good",
  language: "python",
});

describe("findKernelSpecs", () => {
  it("skips a kernel.json that is not JSON with a warning naming the file, and finds the others", async () => {
    const { env, dir } = jupyterPath({ broken: "{ not json", good });
    const warnings = collectWarnings();
    const specs = await findKernelSpecs(env);
    expect(specs.map((s) => s.name)).toContain("good");
    expect(specs.map((s) => s.name)).not.toContain("broken");
    const file = path.join(dir, "kernels", "broken", "kernel.json");
    expect(warnings).toEqual([{ code: "kernelspec-invalid", file, message: expect.stringContaining(file) }]);
    expect(warnings[0]!.message).toMatch(/not valid JSON .*Fix or remove the file/);
  });

  it("skips a kernel.json that fails the schema, naming the bad field", async () => {
    const { env } = jupyterPath({
      empty: JSON.stringify({ argv: [] }),
      typo: JSON.stringify({ argv: "python" }),
      good,
    });
    const warnings = collectWarnings();
    const specs = await findKernelSpecs(env);
    expect(specs.map((s) => s.name)).toContain("good");
    expect(warnings.map((w) => path.basename(path.dirname(w.file ?? "")))).toEqual(["empty", "typo"]);
    expect(warnings.every((w) => /not a kernelspec \(argv: /.test(w.message))).toBe(true);
  });

  it("warns once per broken file however often the folders are scanned", async () => {
    const { env } = jupyterPath({ broken: "[", good });
    const warnings = collectWarnings();
    for (let i = 0; i < 3; i++) await findKernelSpecs(env);
    expect(warnings).toHaveLength(1);
  });

  it("stays quiet about a kernels folder entry without kernel.json", async () => {
    const { env, dir } = jupyterPath({ good });
    mkdirSync(path.join(dir, "kernels", "empty-folder"));
    writeFileSync(path.join(dir, "kernels", "README"), "not a kernelspec folder");
    const warnings = collectWarnings();
    const specs = await findKernelSpecs(env);
    expect(specs.map((s) => s.name)).toContain("good");
    expect(warnings).toEqual([]);
  });

  it("falls back to process.emitWarning when nobody listens", async () => {
    const { env } = jupyterPath({ "no-listener": "nope" });
    const emit = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    await findKernelSpecs(env);
    expect(emit).toHaveBeenCalledWith(expect.stringMatching(/no-listener.*not valid JSON/), {
      code: "NBHOOK_KERNELSPEC",
    });
  });
});

/**
 * Where the in-kernel helpers live and how a kernel gets them: Python finds `nbhook`/`naas` on
 * PYTHONPATH; Deno has no import-map flag for its kernel (`deno jupyter` takes no --config), so a
 * silent first execute binds the module to the name `nbhook`, and NBHOOK_DENO_MODULE names it for
 * explicit imports.
 */
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { KernelSpec } from "./kernelspec.js";

/** Folder of the in-kernel Python helper (`import nbhook` / `import naas`). */
export const PYTHON_HELPER_DIR = fileURLToPath(new URL("../../python", import.meta.url));

/**
 * file: URL of the Deno helper module: its TypeScript source in a checkout; in an installed
 * package (under node_modules, where Deno strips no types) the JavaScript `npm run build` made of
 * it (scripts/build-deno-helper.mjs).
 */
export const DENO_HELPER_URL = pathToFileURL(denoHelperPath()).href;

function denoHelperPath(): string {
  const source = fileURLToPath(new URL("../../deno/nbhook.ts", import.meta.url));
  if (!source.split(path.sep).includes("node_modules")) return source;
  return fileURLToPath(new URL("../../dist/deno/nbhook.js", import.meta.url));
}

export function isDenoKernel(spec: KernelSpec): boolean {
  return path.basename(spec.argv[0] ?? "") === "deno";
}

/**
 * Environment that makes the helpers importable, merged into every kernel's env: nbhook's helper
 * folder first on PYTHONPATH, then the kernelspec's PYTHONPATH when it sets one (as Jupyter, the
 * kernelspec's replaces the environment's), else the server's, so that a module the server's
 * PYTHONPATH finds is importable in notebooks too.
 */
export function helperEnv(
  spec: KernelSpec,
  serverEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const given = spec.env.PYTHONPATH ?? serverEnv.PYTHONPATH;
  return {
    PYTHONPATH: [PYTHON_HELPER_DIR, given].filter(Boolean).join(path.delimiter),
    NBHOOK_DENO_MODULE: DENO_HELPER_URL,
  };
}

/**
 * Code a pooled kernel runs silently once started, before any run takes it: the helper's import
 * (16 ms in a fresh ipykernel here) and IPython's first-execute costs (about 10 ms) are then paid
 * ahead of the call instead of during it.
 */
export function warmupCode(spec: KernelSpec): string | undefined {
  // nbhook._runner: the cell runner's module (src/runs/cell-runner.ts), compiled ahead too.
  if (spec.language.toLowerCase() === "python") return "import nbhook, naas, nbhook._runner";
  return helperPreamble(spec);
}

/** Code to execute silently before a notebook's cells, or undefined when none is needed. */
export function helperPreamble(spec: KernelSpec): string | undefined {
  return isDenoKernel(spec) ? `import * as nbhook from ${JSON.stringify(DENO_HELPER_URL)};` : undefined;
}

/**
 * Code that moves an already running kernel into a run's working directory and environment
 * (pooled kernels start before the run is known). Undefined for languages nbhook cannot do it in.
 */
export function contextPreamble(
  spec: KernelSpec,
  cwd: string | undefined,
  env: Record<string, string> = {},
): string | undefined {
  const language = spec.language.toLowerCase();
  if (language === "python") {
    return [
      "import os as __nbhook_os",
      cwd ? `__nbhook_os.chdir(${JSON.stringify(cwd)})` : "",
      `__nbhook_os.environ.update(${JSON.stringify(env)})`,
      "del __nbhook_os",
    ]
      .filter(Boolean)
      .join("\n");
  }
  if (isDenoKernel(spec)) {
    return [
      cwd ? `Deno.chdir(${JSON.stringify(cwd)});` : "",
      `for (const [k, v] of Object.entries(${JSON.stringify(env)})) Deno.env.set(k, v);`,
    ]
      .filter(Boolean)
      .join("\n");
  }
  return undefined;
}

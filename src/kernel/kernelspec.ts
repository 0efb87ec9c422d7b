/**
 * Kernelspec discovery: the `kernels/<name>/kernel.json` files in Jupyter's data paths, in
 * jupyter_core's order (JUPYTER_PATH, then the user data dir, then the system dirs), plus the Deno
 * kernel shipped by the optional `deno` npm package (bundled-deno.ts), which nbhook offers without
 * any install step.
 *
 * Scanning the folders here costs a few milliseconds; `jupyter kernelspec list` costs ~480 ms and
 * needs jupyter-core installed, so we do not shell out to it.
 */
import { readdir, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { AppError, coerceError } from "../errors.js";
import { bundledDenoBinary, missingDenoHint } from "./bundled-deno.js";
import { describeIssues } from "./describe-issues.js";
import { warnKernel } from "./warnings.js";

export interface KernelSpec {
  /** Folder name, what notebooks put in `metadata.kernelspec.name`. */
  name: string;
  argv: string[];
  displayName: string;
  language: string;
  env: Record<string, string>;
  /** `signal` (SIGINT to the process) or `message` (interrupt_request on control). */
  interruptMode: "signal" | "message";
  /** The kernelspec folder (`{resource_dir}` in argv), or a description for built-in specs. */
  resourceDir: string;
}

const kernelJsonSchema = z.object({
  argv: z.array(z.string()).min(1),
  display_name: z.string().default(""),
  language: z.string().default(""),
  env: z.record(z.string(), z.string()).optional(),
  interrupt_mode: z.enum(["signal", "message"]).optional(),
});

/** Jupyter data folders in precedence order (first wins when two define the same kernel name). */
export function jupyterDataPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const paths: string[] = [];
  if (env.JUPYTER_PATH) paths.push(...env.JUPYTER_PATH.split(path.delimiter).filter(Boolean));
  const home = env.HOME ?? os.homedir();
  const xdgData = env.XDG_DATA_HOME || path.join(home, ".local", "share");
  paths.push(env.JUPYTER_DATA_DIR || path.join(xdgData, "jupyter"));
  paths.push("/usr/local/share/jupyter", "/usr/share/jupyter");
  return [...new Set(paths)];
}

/** Problems already reported, `file\0problem`: scans repeat every 10 s (cachedKernelSpecs). */
const reported = new Set<string>();

/** Skips a broken kernelspec with one warning per file and problem for the process's life. */
function skipInvalid(file: string, problem: string): undefined {
  const key = `${file}\0${problem}`;
  if (reported.has(key)) return undefined;
  reported.add(key);
  warnKernel({
    code: "kernelspec-invalid",
    file,
    message: `skipping the kernelspec ${file}: ${problem}. Fix or remove the file; the other kernels are still offered.`,
  });
  return undefined;
}

async function readSpec(dir: string, name: string): Promise<KernelSpec | undefined> {
  const file = path.join(dir, "kernel.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = err instanceof Error && "code" in err ? err.code : undefined;
    // A folder without kernel.json is not a kernelspec; one we cannot read is a broken one.
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    return skipInvalid(file, `cannot be read (${coerceError(err).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return skipInvalid(file, `not valid JSON (${coerceError(err).message})`);
  }
  const parsed = kernelJsonSchema.safeParse(json);
  if (!parsed.success) return skipInvalid(file, `not a kernelspec (${describeIssues(parsed.error)})`);
  const spec = parsed.data;
  return {
    name,
    argv: spec.argv,
    displayName: spec.display_name || name,
    language: spec.language,
    env: spec.env ?? {},
    interruptMode: spec.interrupt_mode ?? "signal",
    resourceDir: dir,
  };
}

function bundledDenoSpec(): KernelSpec | undefined {
  const bin = bundledDenoBinary();
  if (!bin) return undefined;
  return {
    name: "deno",
    argv: [bin, "jupyter", "--kernel", "--conn", "{connection_file}"],
    displayName: "Deno (bundled with nbhook)",
    language: "typescript",
    env: {},
    interruptMode: "signal",
    resourceDir: path.dirname(bin),
  };
}

/** All kernelspecs found on this machine, by name; earlier data paths shadow later ones. */
export async function findKernelSpecs(env: NodeJS.ProcessEnv = process.env): Promise<KernelSpec[]> {
  const byName = new Map<string, KernelSpec>();
  for (const dataDir of jupyterDataPaths(env)) {
    const kernelsDir = path.join(dataDir, "kernels");
    let entries: string[];
    try {
      entries = await readdir(kernelsDir);
    } catch {
      continue;
    }
    for (const entry of entries.sort()) {
      const name = entry.toLowerCase();
      if (byName.has(name)) continue;
      const spec = await readSpec(path.join(kernelsDir, entry), name);
      if (spec) byName.set(name, spec);
    }
  }
  const deno = bundledDenoSpec();
  if (deno && !byName.has(deno.name)) byName.set(deno.name, deno);
  return [...byName.values()];
}

let cached: { at: number; specs: Promise<KernelSpec[]> } | undefined;

/**
 * findKernelSpecs() for servers: the folders are scanned at most once per `maxAgeMs`, so a call
 * does not pay a directory scan, and a newly installed kernel still shows up within seconds.
 */
export function cachedKernelSpecs(maxAgeMs = 10_000): Promise<KernelSpec[]> {
  const now = Date.now();
  if (!cached || now - cached.at > maxAgeMs) {
    const specs = findKernelSpecs();
    cached = { at: now, specs };
    specs.catch(() => {
      cached = undefined;
    });
  }
  return cached.specs;
}

export interface KernelChoice {
  /** `--kernel NAME`, overriding the notebook. */
  override?: string;
  /** The notebook's `metadata.kernelspec.name`. */
  name?: string;
  /** The notebook's `metadata.kernelspec.language` or `metadata.language_info.name`. */
  language?: string;
}

/**
 * Picks the kernel for a notebook: `--kernel` first, then the notebook's kernelspec name, then its
 * language (a spec named after the language wins among several). Throws a `kernel-not-found` error
 * listing what is installed and how to fix it.
 */
export function chooseKernelSpec(specs: KernelSpec[], choice: KernelChoice): KernelSpec {
  const byName = (name: string) => specs.find((s) => s.name === name.toLowerCase());
  if (choice.override) {
    const spec = byName(choice.override);
    if (spec) return spec;
    throw notFound(specs, `no kernel named "${choice.override}" (--kernel)${missingDenoHint(choice)}`);
  }
  if (choice.name) {
    const spec = byName(choice.name);
    if (spec) return spec;
  }
  if (choice.language) {
    const lang = choice.language.toLowerCase();
    const matches = specs.filter((s) => s.language.toLowerCase() === lang);
    const preferred = matches.find((s) => s.name === lang || s.name === `${lang}3`) ?? matches[0];
    if (preferred) return preferred;
  }
  if (!choice.name && !choice.language) {
    throw notFound(specs, "the notebook names no kernel (metadata.kernelspec) and no language");
  }
  const wanted = [choice.name && `name "${choice.name}"`, choice.language && `language "${choice.language}"`]
    .filter(Boolean)
    .join(" or ");
  throw notFound(specs, `no installed kernel matches the notebook's ${wanted}${missingDenoHint(choice)}`);
}

function notFound(specs: KernelSpec[], why: string): AppError {
  const found = specs.length
    ? specs.map((s) => `  ${s.name.padEnd(12)} ${s.language.padEnd(11)} ${s.resourceDir}`).join("\n")
    : "  (none)";
  return new AppError(
    "kernel-not-found",
    `${why}.\nKernels found:\n${found}\n` +
      `Fix: pass --kernel NAME with one of them, or install a kernel ` +
      `(Debian: apt-get install python3-ipykernel). Searched: ${jupyterDataPaths().join(", ")}.`,
  );
}

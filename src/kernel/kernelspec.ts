/**
 * Kernelspec discovery: the `kernels/<name>/kernel.json` files where `jupyter kernelspec list`
 * finds them, in its order (jupyter-paths.ts: JUPYTER_PATH, the user's folders, the active venv
 * or conda env and the environments of python3/jupyter on PATH, the system folders), plus the
 * Deno kernel shipped by the optional `deno` npm package (bundled-deno.ts), which nbhook offers without any install step.
 *
 * Scanning the folders here costs a few milliseconds; `jupyter kernelspec list` costs ~480 ms and
 * needs jupyter-core installed, so we do not shell out to it.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { AppError, coerceError } from "../errors.js";
import { bundledDenoBinary, missingDenoHint } from "./bundled-deno.js";
import { describeIssues } from "./describe-issues.js";
import { environmentPython, kernelDirs, resolvePathPrefixes, type KernelDir } from "./jupyter-paths.js";
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
  /**
   * Why the folder was searched (`nbhook kernels` shows it): `JUPYTER_PATH`, `user`, `user site`,
   * `VIRTUAL_ENV`, `CONDA_PREFIX`, `python3 on PATH`, `system`, `IPython`, `bundled`.
   */
  source?: string;
}

const kernelJsonSchema = z.object({
  argv: z.array(z.string()).min(1),
  display_name: z.string().default(""),
  language: z.string().default(""),
  env: z.record(z.string(), z.string()).optional(),
  interrupt_mode: z.enum(["signal", "message"]).optional(),
});

/**
 * Jupyter data folders in precedence order (first wins when two define the same kernel name): the
 * folders of {@link kernelDirs} without their `kernels` part (IPython's folder left out).
 */
export function jupyterDataPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  return kernelDirs(env)
    .filter((d) => d.source !== "IPython")
    .map((d) => path.dirname(d.dir));
}

export { kernelDirs, type KernelDir } from "./jupyter-paths.js";

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

async function readSpec(dir: string, name: string, from: KernelDir): Promise<KernelSpec | undefined> {
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
  const argv = [...spec.argv];
  // ipykernel's own kernel.json (installed into every env by `pip install ipykernel`) says
  // `python`: jupyter_client runs its sys.executable there, which is the env's Python.
  const python = from.prefix && environmentPython(from.prefix, argv[0]!);
  if (python) argv[0] = python;
  return {
    name,
    argv,
    displayName: spec.display_name || name,
    language: spec.language,
    env: spec.env ?? {},
    interruptMode: spec.interrupt_mode ?? "signal",
    resourceDir: dir,
    source: from.source,
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
    source: "bundled",
  };
}

/** All kernelspecs found on this machine, by name; earlier data paths shadow later ones. */
export async function findKernelSpecs(env: NodeJS.ProcessEnv = process.env): Promise<KernelSpec[]> {
  const byName = new Map<string, KernelSpec>();
  await resolvePathPrefixes(env);
  for (const from of kernelDirs(env)) {
    let entries: string[];
    try {
      entries = await readdir(from.dir);
    } catch {
      continue;
    }
    for (const entry of entries.sort()) {
      const name = entry.toLowerCase();
      if (byName.has(name)) continue;
      const spec = await readSpec(path.join(from.dir, entry), name, from);
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

/**
 * How to install or register a kernel where nbhook finds it, on any system (the "no kernel"
 * error and `nbhook kernels`).
 */
export function kernelInstallHelp(env: NodeJS.ProcessEnv = process.env): string {
  const lines = [
    "Install or register a Python kernel where nbhook looks:",
    "  any Python:     python3 -m pip install --user ipykernel && python3 -m ipykernel install --user",
    "  a venv:         activate it before starting nbhook, then: python -m pip install ipykernel",
    '                  (or register it: python -m ipykernel install --prefix "$VIRTUAL_ENV",',
    "                   or for every user session: python -m ipykernel install --user --name myenv)",
    "  conda:          conda install ipykernel (in the env, activated before starting nbhook)",
    "  Debian/Ubuntu:  apt-get install python3-ipykernel",
    "  elsewhere:      put the kernel's folder on JUPYTER_PATH (its kernels/<name>/kernel.json)",
  ];
  const searched = kernelDirs(env).map((d) => `${d.dir} (${d.source})`);
  return `${lines.join("\n")}\nSearched: ${searched.join(", ")}.`;
}

function notFound(specs: KernelSpec[], why: string): AppError {
  const found = specs.length
    ? specs
        .map(
          (s) =>
            `  ${s.name.padEnd(12)} ${s.language.padEnd(11)} ${s.resourceDir}${s.source ? ` (${s.source})` : ""}`,
        )
        .join("\n")
    : "  (none)";
  return new AppError(
    "kernel-not-found",
    `${why}.\nKernels found:\n${found}\nFix: pass --kernel NAME with one of them, or install a kernel.\n` +
      kernelInstallHelp(),
  );
}

/**
 * The Deno kernel nbhook offers without an install step, from the optional npm dependency `deno`
 * (about 92 MB; `npm install --omit=optional` leaves it out), and what to say when a TypeScript
 * notebook finds no Deno kernel.
 *
 * The `deno` package's postinstall script copies the binary of its platform package
 * (`@deno/linux-x64-glibc`, …) into its own folder; an install with `--ignore-scripts` skips that
 * copy, so the platform package's binary is used then (what the package's own `bin.cjs` does).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

const EXE = os.platform() === "win32" ? "deno.exe" : "deno";

/** `@deno/<target>`, the platform package of the `deno` npm package (its install_api.cjs). */
function platformPackage(): string | undefined {
  const arch = os.arch();
  if (arch !== "x64" && arch !== "arm64") return undefined;
  const platform = os.platform();
  if (platform === "linux") return `@deno/linux-${arch}-glibc`;
  if (platform === "darwin" || platform === "win32") return `@deno/${platform}-${arch}`;
  return undefined;
}

/** The Deno binary brought by the `deno` npm dependency, if it is installed. */
export function bundledDenoBinary(): string | undefined {
  let denoPackageJson: string;
  try {
    denoPackageJson = createRequire(import.meta.url).resolve("deno/package.json");
  } catch {
    return undefined;
  }
  const copied = path.join(path.dirname(denoPackageJson), EXE);
  if (existsSync(copied)) return copied;
  const target = platformPackage();
  if (!target) return undefined;
  try {
    const dir = path.dirname(createRequire(denoPackageJson).resolve(`${target}/package.json`));
    const bin = path.join(dir, EXE);
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

const DENO_LANGUAGES = new Set(["typescript", "javascript"]);

/**
 * When a notebook wants Deno (kernel `deno`, or language TypeScript/JavaScript) and no kernel
 * serves it: why, and how to install it; else "".
 */
export function missingDenoHint(choice: { override?: string; name?: string; language?: string }): string {
  const wantsDeno =
    [choice.override, choice.name].some((name) => name?.toLowerCase() === "deno") ||
    (choice.language !== undefined && DENO_LANGUAGES.has(choice.language.toLowerCase()));
  if (!wantsDeno || bundledDenoBinary()) return "";
  return (
    ". TypeScript notebooks run on Deno's Jupyter kernel, which nbhook gets from the optional npm " +
    "package `deno` (about 92 MB); it is not installed here (nbhook was installed with " +
    "--omit=optional, or without its platform package). Install it: `npm install deno` in the " +
    "folder nbhook is installed in (or reinstall nbhook without --omit=optional), or install Deno " +
    "(https://docs.deno.com/runtime/) and register its kernel with `deno jupyter --install`"
  );
}

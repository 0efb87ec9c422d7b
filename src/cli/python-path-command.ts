/**
 * `nbhook python-path`: where the in-kernel Python helper (`import nbhook`, `import naas`) lives, so
 * a user's own Jupyter can import it and call `naas.webhook.add()` from a notebook. `--install`
 * writes a `nbhook.pth` into a Python's site-packages instead of asking for PYTHONPATH.
 */
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { z } from "zod";
import { AppError } from "../errors.js";
import { PYTHON_HELPER_DIR } from "../kernel/index.js";

const DEFAULT_PYTHON = "/usr/bin/python3";
const PTH_NAME = "nbhook.pth";
const PYTHON_TIMEOUT_MS = 20_000;

interface PythonPathFlags {
  install?: boolean;
  python: string;
  system?: boolean;
}

/** What the target Python says about its site-packages folders. */
const siteInfoSchema = z.object({
  version: z.string(),
  executable: z.string(),
  user_site: z.string().nullable(),
  user_site_enabled: z.boolean(),
  purelib: z.string(),
});
type SiteInfo = z.infer<typeof siteInfoSchema>;

const SITE_INFO_SCRIPT = [
  "import json, site, sys, sysconfig",
  "user = site.getusersitepackages() if hasattr(site, 'getusersitepackages') else None",
  "print(json.dumps({'version': sys.version.split()[0], 'executable': sys.executable, 'user_site': user,",
  "  'user_site_enabled': bool(site.ENABLE_USER_SITE), 'purelib': sysconfig.get_paths()['purelib']}))",
].join("\n");

const CHECK_SCRIPT =
  "import nbhook, naas, os; print(os.path.dirname(os.path.dirname(os.path.abspath(nbhook.__file__))))";

export function pythonPathCommand(): Command {
  return new Command("python-path")
    .description(
      "print the folder holding the Python helper (import naas / import nbhook) to add to PYTHONPATH, " +
        "or --install it into a Python",
    )
    .option(
      "--install",
      `write ${PTH_NAME} into a Python's site-packages, so it imports the helper without PYTHONPATH`,
    )
    .option("--python <python>", "with --install: the Python to install into", DEFAULT_PYTHON)
    .option(
      "--system",
      "with --install: the Python's own site-packages rather than the user's (needs write access)",
    )
    .addHelpText(
      "after",
      "\nExamples:\n" +
        '  export PYTHONPATH="$(nbhook python-path)${PYTHONPATH:+:$PYTHONPATH}"\n' +
        '  nbhook python-path --install --python "$(which python3)"\n' +
        "Then, in a notebook: import naas; naas.webhook.add()  (the server is found by NBHOOK_URL, default http://127.0.0.1:5000).",
    )
    .action(async (flags: PythonPathFlags) => {
      if (!flags.install) {
        if (flags.system || flags.python !== DEFAULT_PYTHON) {
          throw new AppError("usage", "--python and --system go with --install");
        }
        process.stdout.write(PYTHON_HELPER_DIR + "\n");
        return;
      }
      const written = await installPth(flags.python, { system: Boolean(flags.system) });
      process.stdout.write(
        `Wrote ${written.file} (Python ${written.info.version}, ${written.info.executable}), containing:\n` +
          `  ${PYTHON_HELPER_DIR}\n` +
          `Check: ${flags.python} -c "import naas"   (imports from ${written.importsFrom})\n` +
          `Undo:  rm ${shellQuote(written.file)}\n`,
      );
    });
}

export interface InstalledPth {
  file: string;
  info: SiteInfo;
  /** Where the Python now imports `nbhook` from (the helper folder, unless another copy wins). */
  importsFrom: string;
}

/** Writes `nbhook.pth` (one line: the helper folder) into `python`'s user or system site-packages. */
export async function installPth(python: string, options: { system?: boolean } = {}): Promise<InstalledPth> {
  const info = siteInfoSchema.parse(JSON.parse(await runPython(python, SITE_INFO_SCRIPT)));
  const useUser = !options.system && info.user_site_enabled && info.user_site !== null;
  const folder = useUser ? info.user_site! : info.purelib;
  const file = path.join(folder, PTH_NAME);
  try {
    await mkdir(folder, { recursive: true });
    await writeFile(file, PYTHON_HELPER_DIR + "\n");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AppError(
      "usage",
      `cannot write ${file} (${code ?? String(err)})` +
        (useUser
          ? ""
          : ": run as a user who may write there, or drop --system to use the user site-packages"),
      { cause: err },
    );
  }
  let importsFrom: string;
  try {
    importsFrom = (await runPython(python, CHECK_SCRIPT)).trim();
  } catch (err) {
    throw new AppError(
      "usage",
      `wrote ${file}, but ${python} still cannot import the helper (${(err as Error).message}); ` +
        `is that site-packages folder on its path? Undo: rm ${shellQuote(file)}`,
      { cause: err },
    );
  }
  return { file, info, importsFrom };
}

/** Runs `python -c code` (isolated from PYTHONPATH, so the check is honest) and returns stdout. */
function runPython(python: string, code: string): Promise<string> {
  const env = { ...process.env };
  delete env.PYTHONPATH;
  return new Promise((resolve, reject) => {
    execFile(
      python,
      ["-c", code],
      { env, timeout: PYTHON_TIMEOUT_MS, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (!err) {
          resolve(stdout);
          return;
        }
        const errno = (err as NodeJS.ErrnoException).code;
        if (errno === "ENOENT") {
          reject(
            new AppError("usage", `no Python at ${python}: give one with --python PATH`, { cause: err }),
          );
          return;
        }
        const last = stderr.trim().split("\n").pop() ?? "";
        reject(new AppError("usage", `${python} failed: ${last || err.message}`, { cause: err }));
      },
    );
  });
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

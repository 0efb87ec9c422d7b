/**
 * `nbhook python-path`: the printed folder makes Debian's /usr/bin/python3 import the helper, and
 * `--install` writes a `nbhook.pth` into the user site-packages (moved to a temp folder with
 * PYTHONUSERBASE) that does the same without PYTHONPATH.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi, onTestFinished } from "vitest";
import { pythonPathCommand } from "../../src/cli/python-path-command.js";
import { PYTHON_HELPER_DIR } from "../../src/kernel/index.js";

const PYTHON = "/usr/bin/python3";

/** Runs the command in-process and returns what it printed on stdout. */
async function nbhookPythonPath(args: string[]): Promise<string> {
  const printed: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  });
  try {
    await pythonPathCommand().exitOverride().parseAsync(args, { from: "user" });
  } finally {
    spy.mockRestore();
  }
  return printed.join("");
}

function python(code: string, env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, ["-c", code], { env, timeout: 20_000, encoding: "utf8" }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }),
    );
  });
}

const IMPORT_CHECK = "import naas, nbhook, os; print(os.path.dirname(os.path.dirname(nbhook.__file__)))";

function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of names) delete env[name];
  return env;
}

describe("nbhook python-path", () => {
  const savedUserBase = process.env.PYTHONUSERBASE;
  afterEach(() => {
    if (savedUserBase === undefined) delete process.env.PYTHONUSERBASE;
    else process.env.PYTHONUSERBASE = savedUserBase;
  });

  it("prints the helper folder, which makes python3 import naas and nbhook", async () => {
    const printed = await nbhookPythonPath([]);
    expect(printed).toBe(PYTHON_HELPER_DIR + "\n");
    const { stdout } = await python(IMPORT_CHECK, {
      ...envWithout("PYTHONUSERBASE"),
      PYTHONPATH: printed.trim(),
    });
    expect(stdout.trim()).toBe(PYTHON_HELPER_DIR.replace(/\/$/, ""));
  });

  it("--install writes nbhook.pth into the user site-packages and says how to undo it", async () => {
    const userBase = mkdtempSync(path.join(os.tmpdir(), "nbhook-userbase-"));
    onTestFinished(() => rmSync(userBase, { recursive: true, force: true }));
    process.env.PYTHONUSERBASE = userBase;
    const printed = await nbhookPythonPath(["--install", "--python", PYTHON]);
    const pth = path.join(userBase, "lib", `python${await pythonVersion()}`, "site-packages", "nbhook.pth");
    expect(readFileSync(pth, "utf8")).toBe(PYTHON_HELPER_DIR + "\n");
    expect(printed).toContain(`Wrote ${pth}`);
    expect(printed).toContain(`Undo:  rm ${pth}`);
    const { stdout } = await python(IMPORT_CHECK, { ...envWithout("PYTHONPATH"), PYTHONUSERBASE: userBase });
    expect(stdout.trim()).toBe(PYTHON_HELPER_DIR.replace(/\/$/, ""));
  });

  it("--install with a missing Python says so", async () => {
    await expect(nbhookPythonPath(["--install", "--python", "/nonexistent/python3"])).rejects.toThrow(
      "no Python at /nonexistent/python3: give one with --python PATH",
    );
    expect(existsSync("/nonexistent")).toBe(false);
  });

  it("--python without --install is a usage error", async () => {
    await expect(nbhookPythonPath(["--python", "/opt/py/bin/python3"])).rejects.toThrow(
      "--python and --system go with --install",
    );
  });
});

async function pythonVersion(): Promise<string> {
  const { stdout } = await python(
    "import sys; print('%d.%d' % sys.version_info[:2])",
    envWithout("PYTHONPATH"),
  );
  return stdout.trim();
}

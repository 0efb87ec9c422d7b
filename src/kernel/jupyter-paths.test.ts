import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { kernelDirs, resolvePathPrefixes } from "./jupyter-paths.js";
import { findKernelSpecs, kernelInstallHelp } from "./kernelspec.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix = "nbhook-paths-"): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** A kernelspec folder `<dataDir>/kernels/<name>/kernel.json`. */
function kernel(
  dataDir: string,
  name: string,
  argv: string[] = ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
) {
  mkdirSync(path.join(dataDir, "kernels", name), { recursive: true });
  writeFileSync(
    path.join(dataDir, "kernels", name, "kernel.json"),
    JSON.stringify({ argv, display_name: name, language: "python" }),
  );
}

/** A venv-style prefix (`pyvenv.cfg`, `bin/python3` → /usr/bin/python3) with one kernel. */
function venv(name = "venvkernel", argv?: string[]): string {
  const prefix = tempDir("nbhook-venv-");
  writeFileSync(path.join(prefix, "pyvenv.cfg"), "home = /usr/bin\ninclude-system-site-packages = true\n");
  mkdirSync(path.join(prefix, "bin"));
  symlinkSync("/usr/bin/python3", path.join(prefix, "bin", "python3"));
  symlinkSync("python3", path.join(prefix, "bin", "python"));
  kernel(path.join(prefix, "share", "jupyter"), name, argv);
  return prefix;
}

/** An environment with nothing of the machine's: a private HOME, an empty PATH. */
function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = tempDir("nbhook-home-");
  return { HOME: home, PATH: "", ...extra };
}

const sources = (env: NodeJS.ProcessEnv, platform?: NodeJS.Platform) =>
  kernelDirs(env, { platform }).map((d) => `${d.source}: ${d.dir}`);

describe("kernelDirs: jupyter kernelspec list's folders and order", () => {
  it("on Linux: JUPYTER_PATH, the user's, the system's, IPython's", () => {
    const env = bareEnv({ JUPYTER_PATH: "/a:/b/", XDG_DATA_HOME: "/xdg" });
    expect(sources(env, "linux")).toEqual([
      "JUPYTER_PATH: /a/kernels",
      "JUPYTER_PATH: /b/kernels",
      "user: /xdg/jupyter/kernels",
      `user site: ${env.HOME}/.local/share/jupyter/kernels`,
      "system: /usr/local/share/jupyter/kernels",
      "system: /usr/share/jupyter/kernels",
      `IPython: ${env.HOME}/.ipython/kernels`,
    ]);
  });

  it("on macOS: ~/Library/Jupyter and the user base of each Python version", () => {
    const env = bareEnv();
    mkdirSync(path.join(env.HOME!, "Library", "Python", "3.9"), { recursive: true });
    mkdirSync(path.join(env.HOME!, "Library", "Python", "3.12"), { recursive: true });
    expect(sources(env, "darwin").slice(0, 3)).toEqual([
      `user: ${env.HOME}/Library/Jupyter/kernels`,
      `user site: ${env.HOME}/Library/Python/3.12/share/jupyter/kernels`,
      `user site: ${env.HOME}/Library/Python/3.9/share/jupyter/kernels`,
    ]);
  });

  it("on Windows: %APPDATA%\\jupyter and %PROGRAMDATA%\\jupyter", () => {
    const env = {
      APPDATA: "C:\\Users\\u\\AppData\\Roaming",
      PROGRAMDATA: "C:\\ProgramData",
      USERPROFILE: "C:\\Users\\u",
      PATH: "",
    };
    expect(sources(env, "win32")).toEqual([
      "user: C:\\Users\\u\\AppData\\Roaming\\jupyter\\kernels",
      "user site: C:\\Users\\u\\AppData\\Roaming\\Python\\share\\jupyter\\kernels",
      "system: C:\\ProgramData\\jupyter\\kernels",
      "IPython: C:\\Users\\u\\.ipython\\kernels",
    ]);
  });

  it("puts an activated venv before the user's folders, as jupyter_core does", () => {
    const prefix = venv();
    const env = bareEnv({ VIRTUAL_ENV: prefix, JUPYTER_PATH: "/first" });
    expect(sources(env, "linux").slice(0, 3)).toEqual([
      "JUPYTER_PATH: /first/kernels",
      `VIRTUAL_ENV: ${prefix}/share/jupyter/kernels`,
      `user: ${env.HOME}/.local/share/jupyter/kernels`,
    ]);
    // JUPYTER_PREFER_ENV_PATH=0 puts the user first again.
    expect(sources({ ...env, JUPYTER_PREFER_ENV_PATH: "0" }, "linux")[1]).toBe(
      `user: ${env.HOME}/.local/share/jupyter/kernels`,
    );
  });

  it("puts conda's base env after the user's folders, another env before them", () => {
    const conda = tempDir("nbhook-conda-");
    const base = bareEnv({ CONDA_PREFIX: conda, CONDA_DEFAULT_ENV: "base" });
    // (The user site, ~/.local/share/jupyter, is the user data folder on Linux: listed once.)
    expect(sources(base, "linux").slice(0, 2)).toEqual([
      `user: ${base.HOME}/.local/share/jupyter/kernels`,
      `CONDA_PREFIX: ${conda}/share/jupyter/kernels`,
    ]);
    const named = { ...base, CONDA_DEFAULT_ENV: "analysis" };
    expect(sources(named, "linux")[0]).toBe(`CONDA_PREFIX: ${conda}/share/jupyter/kernels`);
  });

  it("finds the environment of the python3 on PATH from its pyvenv.cfg, without running it", () => {
    const prefix = venv();
    const env = bareEnv({ PATH: path.join(prefix, "bin") });
    expect(kernelDirs(env, { platform: "linux" })).toContainEqual({
      dir: path.join(prefix, "share", "jupyter", "kernels"),
      source: "python3 on PATH",
      prefix,
    });
  });

  it("finds the environment of a jupyter script from the Python of its #! line", () => {
    const prefix = venv();
    rmSync(path.join(prefix, "pyvenv.cfg")); // a plain prefix: <prefix>/bin/python3 is Python
    const bin = tempDir("nbhook-bin-");
    const python = path.join(prefix, "bin", "python3");
    writeFileSync(path.join(bin, "jupyter"), `#!${python}\nimport sys\n`, { mode: 0o755 });
    const env = bareEnv({ PATH: bin });
    // /usr/bin/python3 resolves to /usr: the system folder keeps its place; the prefix of the
    // script's Python is the one of its symlink's target, as Python's own sys.prefix would be.
    expect(kernelDirs(env, { platform: "linux" }).map((d) => d.source)).not.toContain("jupyter on PATH");
    writeFileSync(path.join(prefix, "pyvenv.cfg"), "home = /usr/bin\n");
    expect(kernelDirs(env, { platform: "linux" })).toContainEqual({
      dir: path.join(prefix, "share", "jupyter", "kernels"),
      source: "jupyter on PATH",
      prefix,
    });
  });

  it("asks a wrapper script (a pyenv shim) for sys.prefix once, and no other executable", async () => {
    const prefix = venv();
    rmSync(path.join(prefix, "pyvenv.cfg"));
    const bin = tempDir("nbhook-shims-");
    const count = path.join(bin, "asked");
    const shim = path.join(bin, "python3");
    writeFileSync(shim, `#!/bin/sh\necho x >> "${count}"\necho "${prefix}"\n`);
    chmodSync(shim, 0o755);
    const env = bareEnv({ PATH: bin });
    await resolvePathPrefixes(env, { platform: "linux" });
    await resolvePathPrefixes(env, { platform: "linux" });
    const found = kernelDirs(env, { platform: "linux" }).find((d) => d.source === "python3 on PATH");
    expect(found).toEqual({
      dir: path.join(prefix, "share", "jupyter", "kernels"),
      source: "python3 on PATH",
      prefix,
    });
    const specs = await findKernelSpecs(env);
    expect(specs.find((s) => s.name === "venvkernel")?.source).toBe("python3 on PATH");
    expect(readFileSync(count, "utf8")).toBe("x\n");
  });
});

describe("pyenv's shims", () => {
  /** `$PYENV_ROOT` with a shim that counts its runs and versions 3.12.1 and 3.11.7. */
  function pyenvRoot(): { root: string; count: string } {
    const root = tempDir("nbhook-pyenv-");
    const count = path.join(root, "asked");
    mkdirSync(path.join(root, "shims"));
    writeFileSync(
      path.join(root, "shims", "python3"),
      `#!/usr/bin/env bash\necho x >> "${count}"\nexit 1\n`,
      {
        mode: 0o755,
      },
    );
    for (const version of ["3.12.1", "3.11.7"])
      mkdirSync(path.join(root, "versions", version), { recursive: true });
    writeFileSync(path.join(root, "version"), "# global\n3.11.7\n");
    return { root, count };
  }
  const pathPrefix = (env: NodeJS.ProcessEnv) =>
    kernelDirs(env, { platform: "linux" }).find((d) => d.source === "python3 on PATH")?.prefix;

  it("gives the version pyenv would choose, read from its files, without running the shim", async () => {
    const { root, count } = pyenvRoot();
    const env = bareEnv({ PATH: path.join(root, "shims"), PYENV_ROOT: root });
    await resolvePathPrefixes(env, { platform: "linux" });
    expect(pathPrefix(env)).toBe(path.join(root, "versions", "3.11.7")); // $PYENV_ROOT/version
    expect(pathPrefix({ ...env, PYENV_VERSION: "3.12.1:3.11.7" })).toBe(
      path.join(root, "versions", "3.12.1"),
    );
    expect(pathPrefix({ ...env, PYENV_VERSION: "system" })).toBeUndefined();
    await resolvePathPrefixes({ ...env, PYENV_VERSION: "system" }, { platform: "linux" });
    expect(() => readFileSync(count)).toThrow(/ENOENT/);
  });
});

describe("findKernelSpecs in environments", () => {
  it("finds a venv's kernel through VIRTUAL_ENV, and it shadows a user kernel of that name", async () => {
    const prefix = venv("python3");
    const env = bareEnv({ VIRTUAL_ENV: prefix });
    kernel(path.join(env.HOME!, ".local", "share", "jupyter"), "python3", ["/user/python"]);
    const specs = await findKernelSpecs(env);
    const spec = specs.find((s) => s.name === "python3");
    expect(spec).toMatchObject({
      source: "VIRTUAL_ENV",
      resourceDir: path.join(prefix, "share", "jupyter", "kernels", "python3"),
      argv: ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
    });
  });

  it("runs the environment's own Python for ipykernel's bare `python` argv", async () => {
    const prefix = venv("envpy", ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]);
    const specs = await findKernelSpecs(bareEnv({ VIRTUAL_ENV: prefix }));
    expect(specs.find((s) => s.name === "envpy")?.argv[0]).toBe(path.join(prefix, "bin", "python"));
  });

  it("leaves a bare `python` of the user's or the system's folders to PATH", async () => {
    const env = bareEnv();
    env.JUPYTER_DATA_DIR = path.join(env.HOME!, "data");
    kernel(env.JUPYTER_DATA_DIR, "plain", ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"]);
    const specs = await findKernelSpecs(env);
    expect(specs.find((s) => s.name === "plain")).toMatchObject({
      argv: expect.arrayContaining(["python3"]),
      source: "user",
    });
  });
});

describe("kernelInstallHelp", () => {
  it("says how to install or register a kernel on any system, and where it looked", () => {
    const prefix = venv();
    const help = kernelInstallHelp(bareEnv({ VIRTUAL_ENV: prefix }));
    for (const hint of [
      "python3 -m ipykernel install --user",
      'python -m ipykernel install --prefix "$VIRTUAL_ENV"',
      "--user --name",
      "conda install ipykernel",
      "apt-get install python3-ipykernel",
      "JUPYTER_PATH",
      `${prefix}/share/jupyter/kernels (VIRTUAL_ENV)`,
    ]) {
      expect(help).toContain(hint);
    }
  });
});

/**
 * The native modules nbhook loads (better-sqlite3 for the embedded store, zeromq for the kernels'
 * channels): when one cannot be loaded (an install with --ignore-scripts left better-sqlite3
 * unbuilt, a module built for another Node version, a missing shared library), one plain line
 * naming the module and the fix instead of a stack trace.
 */

interface NativeModule {
  name: string;
  /** Whatever in an error's message or stack says it came from this module. */
  pattern: RegExp;
  /** What nbhook needs it for. */
  role: string;
  fix: string;
}

const MODULES: NativeModule[] = [
  {
    name: "better-sqlite3",
    pattern: /better[-_]sqlite3/i,
    role: "the embedded SQLite store",
    fix:
      "build it with `npm rebuild better-sqlite3` in the folder nbhook is installed in (it compiles " +
      "SQLite: it needs python3, make and a C++ compiler, e.g. Debian `apt-get install build-essential python3`); " +
      "an install with --ignore-scripts skips that build",
  },
  {
    name: "zeromq",
    pattern: /zeromq|zmq\.node|libzmq/i,
    role: "talking to Jupyter kernels",
    fix:
      "reinstall it with `npm rebuild zeromq` in the folder nbhook is installed in (its npm package " +
      "carries prebuilt binaries for Linux, macOS and Windows on x64 and arm64; elsewhere it builds " +
      "with cmake and a C++ compiler)",
  },
];

/** Messages of a failed native-module load (node's dlopen, `bindings`, node-gyp-build, cmake-ts). */
const LOAD_FAILURE =
  /Could not locate the bindings file|No native build was found|Failed to load .*addon|Manifest file not found|NODE_MODULE_VERSION|compiled against a different Node\.js version|ERR_DLOPEN_FAILED|invalid ELF header|cannot open shared object file|wrong ELF class|Cannot find module .*\.node|not a valid Win32 application/i;

function chain(err: unknown): Error[] {
  const out: Error[] = [];
  for (let e: unknown = err; e instanceof Error && out.length < 5; e = e.cause) out.push(e);
  return out;
}

/** One line saying which native module failed to load and how to fix it; undefined for other errors. */
export function nativeModuleProblem(err: unknown): string | undefined {
  for (const e of chain(err)) {
    const text = `${e.message}\n${e.stack ?? ""}`;
    const code = (e as NodeJS.ErrnoException).code;
    if (!LOAD_FAILURE.test(text) && code !== "ERR_DLOPEN_FAILED") continue;
    const module = MODULES.find((m) => m.pattern.test(text));
    if (!module) continue;
    // One line: the list of tried paths dropped, the rest joined.
    const first = e.message
      .replace(/[.\s]*Tried:[\s\S]*$/, "")
      .replace(/\s*\n\s*/g, " ")
      .trim()
      .slice(0, 400)
      .replace(/\.$/, "");
    return (
      `the native module of ${module.name} (needed for ${module.role}) cannot be loaded: ${first}. ` +
      `Fix: ${module.fix}.`
    );
  }
  return undefined;
}

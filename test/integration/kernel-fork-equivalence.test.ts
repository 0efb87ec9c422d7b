/**
 * A forked kernel behaves as a spawned one: the same cells give the same transcript (outputs,
 * execution counts, history, display hooks, captured streams, magics, `!` commands, top-level
 * await), signals reach only the kernel they are sent to, a crash ends only that kernel, and a
 * used kernel ends as an interpreter ends (files the notebook left open are flushed).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { forkServerPids } from "../../src/kernel/forkserver.js";
import { IPYTHON_KERNEL_CONFIG } from "../../src/kernel/ipython-config.js";
import {
  chooseKernelSpec,
  findKernelSpecs,
  KernelClient,
  KernelPool,
  type KernelSpec,
} from "../../src/kernel/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

const tmp = guardKernelLeaks();
const spec: KernelSpec = chooseKernelSpec(await findKernelSpecs(), { name: "python3" });

const started: KernelClient[] = [];
beforeEach(() => {
  delete process.env.NBHOOK_FORKSERVER;
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((k) => k.kill()));
  delete process.env.NBHOOK_FORKSERVER;
});

type How = "spawn" | "fork";
async function start(
  how: How,
  options: Parameters<typeof KernelClient.start>[1] = {},
): Promise<KernelClient> {
  if (how === "spawn") process.env.NBHOOK_FORKSERVER = "0";
  try {
    const kernel = await KernelClient.start(spec, options);
    started.push(kernel);
    expect(kernel.startedBy).toBe(how);
    return kernel;
  } finally {
    delete process.env.NBHOOK_FORKSERVER;
  }
}

/** Each cell's reply status and execution count, then its outputs (msg_type and content). */
async function transcript(kernel: KernelClient, cells: string[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const code of cells) {
    const outputs: unknown[] = [];
    let reply = await kernel.execute(code, { onIopub: (m) => outputs.push([m.msg_type, m.content]) });
    // ipykernel aborts what arrives just after an error (how soon depends on timing): resend.
    while (reply.status === "aborted") {
      reply = await kernel.execute(code, { onIopub: (m) => outputs.push([m.msg_type, m.content]) });
    }
    out.push({ code, status: reply.status, count: reply.execution_count, ename: reply.ename, outputs });
  }
  return out;
}

/** Whether the kernel runs in the shell, and the app, the fork server built before forking. */
const PREBUILT =
  "from ipykernel.kernelapp import IPKernelApp\n" +
  "getattr(get_ipython(), '_nbhook_forked_shell', False), getattr(IPKernelApp.instance(), '_nbhook_prebuilt', False)";

/**
 * A spawned and a forked kernel with `env` give the same transcript, and the forked one builds its
 * own shell and app (its config is not the fork server's): a config whose
 * `ast_node_interactivity = 'all'` shows `1` for `1\n2` in both.
 */
async function expectOwnShellAndApp(env: Record<string, string>): Promise<void> {
  const cells = ["1\n2", PREBUILT];
  const spawned = await start("spawn", { env });
  const forked = await start("fork", { env });
  const [a, b] = await Promise.all([transcript(spawned, cells), transcript(forked, cells)]);
  expect(b).toEqual(a);
  expect(JSON.stringify(b)).toContain('"text/plain":"1"');
  expect(JSON.stringify(b)).toContain('"text/plain":"(False, False)"');
}

const CELLS = [
  // execution counts and the displayhook (execute_result), history of inputs and outputs
  "1 + 1",
  "x = 21\nx * 2",
  "print(len(In), In[1], Out[1], _, __, _i2.splitlines()[0])",
  // streams: print, sys.stderr, the file descriptors themselves, a subprocess
  "import os, sys\nprint('out'); print('err', file=sys.stderr)",
  // (one per cell, and no result: the pipes are read by threads, so their text comes late and in
  // any order; the pause lets it come before the cell ends)
  "import time\nos.write(1, b'fd1\\n'); time.sleep(0.2)",
  "os.write(2, b'fd2\\n'); time.sleep(0.2)",
  "import subprocess\nsubprocess.run(['echo', 'from a child']); time.sleep(0.2)",
  // rich display, with metadata, updates and clear_output
  "from IPython.display import display, HTML, Markdown, clear_output\n" +
    "display(HTML('<b>b</b>'), metadata={'m': 1})\n" +
    "h = display(Markdown('*one*'), display_id='d1')",
  "h.update(Markdown('*two*'))\nclear_output(wait=True)\nprint('after clear')",
  "display({'application/vnd.example+json': {'a': 1}}, raw=True)",
  // magics and shell commands
  "%who_ls",
  "%env NB_EQUIV=yes",
  "import os; os.environ['NB_EQUIV']",
  "!echo shell $NB_EQUIV",
  "files = !ls\nsorted(files)",
  "%%capture captured\nprint('hidden')",
  "captured.stdout",
  "%pwd",
  "%time 2 ** 10",
  // top-level await, and an error that stops a cell
  "import asyncio\nawait asyncio.sleep(0.01)\n'awaited'",
  "def f():\n    raise ValueError('boom')\nf()",
  "'after the error'",
  "%xmode Plain",
  "1/0",
  // the interpreter's own state
  "import threading; [t.name for t in threading.enumerate()] == ['MainThread'] or sorted(t.name for t in threading.enumerate() if t.name != 'MainThread')",
  "import __main__; __main__.__dict__ is get_ipython().user_ns, __name__, sys.displayhook.__class__.__name__, type(sys.stdout).__name__",
  "import signal; signal.getsignal(signal.SIGINT) is signal.default_int_handler or str(signal.getsignal(signal.SIGINT)), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGCHLD)",
  "get_ipython().execution_count, get_ipython().history_manager.enabled, get_ipython().starting_dir == os.getcwd()",
  "ip = get_ipython()\n(ip.profile_dir.location == os.path.join(os.environ['IPYTHONDIR'], 'profile_default'),\n" +
    " ip.ipython_dir == os.environ['IPYTHONDIR'], str(ip.db.root).startswith(os.environ['IPYTHONDIR']),\n" +
    " _dh == [os.getcwd()], ip.kernel is not None and ip.kernel.shell is ip, ip.parent is ip.kernel,\n" +
    " sys.modules['__main__'] is ip.user_module, ip.home_dir == os.path.expanduser('~'),\n" +
    " ip._orig_sys_module_state['stdout'] is sys.stdout, len(ip.configurables), ip.extension_manager.ipython_extension_dir.startswith(os.environ['IPYTHONDIR']))",
  "%cd ..\n%cd -\nlen(_dh)",
  "%load_ext autoreload\n%autoreload 2\n'ext loaded'",
  // the display formatters (a forked child's were made by the fork server, a spawned kernel's at
  // its first result): the same classes, config and printers
  "fmt = get_ipython().display_formatter\n" +
    "[(k, type(f).__name__, f.enabled, f.parent is fmt, sorted(map(str, f.type_printers)), sorted(map(str, f.deferred_printers)),\n" +
    "  getattr(f, 'max_width', None), getattr(f, 'float_precision', None)) for k, f in fmt.formatters.items()]",
  // what the kernel's config gave it: nbhook's kernel tweaks (an extension), the configurable
  // classes (a forked child reuses the fork server's list), the IOPub flush and control queue
  "sorted(get_ipython().extension_manager.loaded), get_ipython().kernel._execute_sleep",
  "from ipykernel.kernelapp import IPKernelApp\napp = IPKernelApp.instance()\n" +
    "[c.__name__ for c in app._classes_with_config_traits()], app.extra_args, {k: list(v) for k, v in app.cli_config.items()}",
  // the app's own state: a forked child takes the one the fork server built (its command line
  // parsed and config files loaded) and redoes the per-kernel part; a spawned kernel builds it
  "d = os.environ['IPYTHONDIR']\n" +
    "(app.argv[0], app.argv[1] == app.connection_file, app.cli_config['IPKernelApp']['connection_file'] == app.connection_file,\n" +
    " [p.replace(d, 'D') for p in app.loaded_config_files], [p.replace(d, 'D') for p in app.config_file_paths],\n" +
    " app.ipython_dir == d, app.profile_dir.location.replace(d, 'D'), app.profile, app.subapp,\n" +
    " sys.excepthook.__qualname__, sys.excepthook.__self__ is app,\n" +
    " [p.replace(d, 'D') for p in sys.path if d in p], sorted(os.listdir(os.path.join(d, 'profile_default'))))",
  "import ipykernel.iostream, ipykernel.kernelbase\n" +
    "ipykernel.iostream.OutStream.flush.__name__, ipykernel.kernelbase.Kernel._flush_control_queue.__qualname__",
];

/**
 * What differs between any two kernels whatever their start: timings, addresses, and where a
 * stream's text is cut into messages (consecutive ones are merged, as a saved notebook does).
 */
function normalized(entries: unknown[]): unknown {
  const merged = (entries as { outputs: [string, { name?: string; text?: string }][] }[]).map((e) => ({
    ...e,
    outputs: e.outputs.reduce<[string, { name?: string; text?: string }][]>((acc, [type, content]) => {
      const last = acc.at(-1);
      if (type === "stream" && last?.[0] === "stream" && last[1].name === content.name) {
        acc[acc.length - 1] = [type, { ...content, text: `${last[1].text}${content.text}` }];
      } else acc.push([type, content]);
      return acc;
    }, []),
  }));
  return JSON.parse(
    JSON.stringify(merged)
      .replace(/Wall time: [^"\\]+/g, "Wall time: T")
      .replace(/CPU times: [^"\\]+/g, "CPU times: T")
      .replace(/at 0x[0-9a-f]+/g, "at 0xADDR"),
  );
}

describe("a forked kernel and a spawned one", () => {
  it("give the same transcript for the same cells", async () => {
    const cwd = mkdtempSync(path.join(tmp, "nb-"));
    writeFileSync(path.join(cwd, "data.txt"), "x\n");
    const env = { NBHOOK_RUN: '{"run_id": "r1"}' };
    const spawned = await start("spawn", { cwd, env });
    const forked = await start("fork", { cwd, env });
    const [a, b] = await Promise.all([transcript(spawned, CELLS), transcript(forked, CELLS)]);
    expect(normalized(b)).toEqual(normalized(a));
    // The forked one runs in the shell and the app the fork server built before forking.
    expect(JSON.stringify(await transcript(forked, [PREBUILT]))).toContain('"(True, True)"');
    expect(JSON.stringify(await transcript(spawned, [PREBUILT]))).toContain('"(False, False)"');
    // A few checks that the transcript means what it should.
    const appState = (b as { code: string; status: string }[]).find((e) => e.code.includes("app.argv[0]"));
    expect(appState?.status).toBe("ok");
    const text = JSON.stringify(b);
    expect(text).toMatch(/\(True, True, True, \w+, True, True, True, True, True, \d+, True\)/);
    for (const seen of [
      "fd1",
      "fd2",
      "from a child",
      "shell yes",
      "after clear",
      "awaited",
      "boom",
      "data.txt",
      "'PlainTextFormatter',\\n  True,\\n  True",
    ]) {
      expect(text).toContain(seen);
    }
  });

  it("build their own shell, as a spawned kernel does, when the kernel's IPython config is not the template's", async () => {
    const ipythonDir = mkdtempSync(path.join(tmp, "ipy-"));
    mkdirSync(path.join(ipythonDir, "profile_default"));
    writeFileSync(
      path.join(ipythonDir, "profile_default", "ipython_kernel_config.json"),
      JSON.stringify({
        HistoryManager: { enabled: false },
        InteractiveShell: { ast_node_interactivity: "all" },
      }),
    );
    await expectOwnShellAndApp({ IPYTHONDIR: ipythonDir });
  });

  it("build their own app, as a spawned kernel does, when the profile holds another config file", async () => {
    // nbhook's own kernel config (the template's), and an ipython_config.py beside it.
    const ipythonDir = mkdtempSync(path.join(tmp, "ipy-"));
    const profile = path.join(ipythonDir, "profile_default");
    mkdirSync(profile);
    writeFileSync(path.join(profile, "ipython_kernel_config.json"), IPYTHON_KERNEL_CONFIG);
    writeFileSync(
      path.join(profile, "ipython_config.py"),
      "c.InteractiveShell.ast_node_interactivity = 'all'\n",
    );
    await expectOwnShellAndApp({ IPYTHONDIR: ipythonDir });
    // With only nbhook's config there, the same IPYTHONDIR gets the prebuilt app.
    rmSync(path.join(profile, "ipython_config.py"));
    const again = await start("fork", { env: { IPYTHONDIR: ipythonDir } });
    expect(JSON.stringify(await transcript(again, [PREBUILT]))).toContain('"text/plain":"(True, True)"');
  });

  it("see a helper module of the notebook's folder that shadows nbhook's, as a spawned kernel does", async () => {
    const cwd = mkdtempSync(path.join(tmp, "nb-"));
    writeFileSync(path.join(cwd, "naas.py"), "LOCAL = 'the notebook folder naas'\n");
    writeFileSync(path.join(cwd, "nbhook.py"), "LOCAL = 'the notebook folder nbhook'\n");
    const probe = ["import naas, nbhook\nnaas.LOCAL, nbhook.LOCAL"];
    const spawned = await start("spawn", { cwd });
    const forked = await start("fork", { cwd });
    const [a, b] = await Promise.all([transcript(spawned, probe), transcript(forked, probe)]);
    expect(b).toEqual(a);
    expect(JSON.stringify(b)).toContain("the notebook folder naas");
    expect(JSON.stringify(b)).toContain("the notebook folder nbhook");
  });
});

describe("forked kernels, each its own process", () => {
  it("get SIGINT only in the kernel interrupted", async () => {
    const [a, b] = [await start("fork"), await start("fork")];
    const cell = "import time\nfor _ in range(40): time.sleep(0.05)\n'finished'";
    const running = [transcript(a, [cell]), transcript(b, [cell])];
    await new Promise((r) => setTimeout(r, 300));
    await a.interrupt();
    const [ra, rb] = (await Promise.all(running)) as [{ ename?: string }[], { status: string }[]];
    expect(ra[0]!.ename).toBe("KeyboardInterrupt");
    expect(rb[0]!.status).toBe("ok");
    expect(JSON.stringify(rb)).toContain("finished");
    expect(JSON.stringify(await transcript(a, ["'still alive'"]))).toContain("still alive");
  });

  it("crash alone: the others and the fork server go on", async () => {
    const [a, b] = [await start("fork"), await start("fork")];
    const [server] = forkServerPids();
    await expect(a.execute("import os; os._exit(9)")).rejects.toThrow(/exited with code 9/);
    expect(await a.exited).toEqual({ code: 9, signal: null });
    expect(JSON.stringify(await transcript(b, ["40 + 2"]))).toContain('"42"');
    expect(forkServerPids()).toEqual([server]);
    const c = await start("fork");
    expect(JSON.stringify(await transcript(c, ["'next'"]))).toContain("next");
  });

  it("exit with code 0 when shut down, as a spawned kernel does", async () => {
    const spawned = await start("spawn");
    const forked = await start("fork");
    expect(await forked.shutdown()).toEqual({ code: 0, signal: null });
    expect(await spawned.shutdown()).toEqual({ code: 0, signal: null });
  });

  it("exit with the code of sys.exit / exit() called by the notebook, as a spawned kernel does", async () => {
    for (const how of ["spawn", "fork"] as const) {
      const kernel = await start(how);
      await kernel.execute("import atexit, sys\natexit.register(print, 'atexit ran')").catch(() => {});
      // IPython's exit() asks the kernel to stop after the cell: the process ends with code 0.
      await kernel.execute("exit()").catch(() => {});
      expect(await kernel.exited).toEqual({ code: 0, signal: null });
    }
  });
});

describe("a used kernel's end", () => {
  const LEAVE_OPEN = (file: string) =>
    [
      `log = open(${JSON.stringify(file)}, 'a')`,
      "log.write('appended, never closed\\n')",
      // also one reachable from a module's globals (not from the user namespace). One in a
      // reference cycle can lose its buffer when the collector breaks the cycle, in any CPython
      // process, whenever that happens (bpo-17852): not tested.
      `import types, sys; m = types.ModuleType('nb_mod'); sys.modules['nb_mod'] = m`,
      `m.f = open(${JSON.stringify(file + ".module")}, 'a'); m.f.write('module\\n')`,
    ].join("\n");

  for (const how of ["spawn", "fork"] as const) {
    it(`flushes the files the notebook left open (${how})`, async () => {
      const file = path.join(mkdtempSync(path.join(tmp, "open-")), "out.txt");
      const kernel = await start(how);
      const reply = await kernel.execute(LEAVE_OPEN(file));
      expect(reply.status).toBe("ok");
      expect(readFileSync(file, "utf8")).toBe(""); // still in the file object's buffer
      expect(await kernel.shutdown()).toEqual({ code: 0, signal: null });
      expect(readFileSync(file, "utf8")).toBe("appended, never closed\n");
      expect(readFileSync(`${file}.module`, "utf8")).toBe("module\n");
    });
  }

  it("is retired by the pool after the answer, and its open files are flushed", async () => {
    const pool = new KernelPool({ size: 1 });
    try {
      const file = path.join(mkdtempSync(path.join(tmp, "open-")), "out.txt");
      const kernel = await pool.take(spec);
      expect(kernel.startedBy).toBe("fork");
      await kernel.execute(LEAVE_OPEN(file));
      pool.retire(kernel); // returns at once: the call's answer does not wait for the exit
      expect(kernel.isAlive).toBe(true);
      expect(await kernel.exited).toEqual({ code: 0, signal: null });
      expect(readFileSync(file, "utf8")).toBe("appended, never closed\n");
    } finally {
      await pool.close();
    }
  });

  it("is killed when it does not end within the grace period", async () => {
    const kernel = await start("fork");
    // A non-daemon thread that never ends, and an atexit callback that blocks.
    await kernel.execute("import atexit, time\natexit.register(time.sleep, 3600)");
    expect(await kernel.shutdown(500)).toEqual({ code: null, signal: "SIGKILL" });
  });
});

/**
 * `nbhook call` and `nbhook params` (the built CLI, `npm run build` first), and the SDK's `call`
 * and its retries of a 503 with Retry-After, against a real `nbhook serve` process running real
 * ipykernels. The server runs one notebook at a time and queues none (`--max-runs 1 --max-queue
 * 0`), so a call held by a notebook waiting for a file gives every other call a real 503 busy.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NbhookClient, type CallAnswer, type Run } from "../../src/client/index.js";
import { makeNotebook } from "../support/notebooks.js";
import {
  startFaultServer,
  stopFaultServers,
  tempFolder,
  waitFor,
  type FaultServer,
} from "../support/fault-server.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

let server: FaultServer;
let client: NbhookClient;
let dir: string;
let echo: { id: string; url: string };
let failing: { id: string; url: string };
let gate: { id: string; url: string };

const ECHO_CELLS = [
  { source: 'name = "world"  # who to greet\ntimes = 1\ntags = []', tags: ["parameters"] },
  "import naas\nnaas.webhook.respond_json({'name': name, 'times': times, 'tags': tags, 'type': type(times).__name__})",
];

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function nbhook(args: string[], cwd = dir): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: cwd, NBHOOK_HOME: server.home, NBHOOK_URL: server.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

beforeAll(async () => {
  server = await startFaultServer({ args: ["--max-runs", "1", "--max-queue", "0", "--pool", "1"] });
  client = new NbhookClient({ url: server.url, token: server.token });
  dir = tempFolder("nbhook-call-");
  // echo.ipynb is deployed from a real file, so `nbhook call echo.ipynb` finds it by its path.
  writeFileSync(path.join(dir, "echo.ipynb"), JSON.stringify(makeNotebook(ECHO_CELLS)));
  echo = (await client.add(path.join(dir, "echo.ipynb"))).webhook;
  failing = await server.deploy("failing", ["x = 1", "raise ValueError('boom')"]);
  gate = await server.deploy("gate", [
    { source: 'flag = ""', tags: ["parameters"] },
    "import os, time\nwhile not os.path.exists(flag):\n    time.sleep(0.05)",
    "import naas\nnaas.webhook.respond_text('released')",
  ]);
}, 60_000);

afterAll(async () => {
  await stopFaultServers();
});

describe("nbhook params", () => {
  it("lists a local notebook's parameters with types, defaults and comments", async () => {
    const table = await nbhook(["params", "echo.ipynb"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain("Parameters of echo.ipynb (python):");
    expect(table.stdout).toMatch(/name\s+str\s+"world"\s+who to greet/);
    expect(table.stdout).toMatch(/times\s+int\s+1/);
    expect(table.stdout).toMatch(/tags\s+list\s+\[\]/);

    const json = await nbhook(["params", "echo.ipynb", "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({
      notebook: "echo.ipynb",
      language: "python",
      parameters: [
        { name: "name", type: "str", default: "world", help: "who to greet" },
        { name: "times", type: "int", default: 1 },
        { name: "tags", type: "list", default: [] },
      ],
    });
  });

  it("with --deployed, those of the live version on the server", async () => {
    const result = await nbhook(["params", "echo.ipynb", "--deployed", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const found = JSON.parse(result.stdout) as { notebook: string; histo: string; parameters: unknown[] };
    expect(found.notebook).toBe(path.join(dir, "echo.ipynb"));
    expect(found.histo).toMatch(/^\d{20}$/);
    expect(found.parameters).toHaveLength(3);
  });

  it("says so when the file is not a notebook", async () => {
    writeFileSync(path.join(dir, "broken.ipynb"), "{");
    const result = await nbhook(["params", "broken.ipynb"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("broken.ipynb");
  });
});

describe("nbhook call", () => {
  it("calls by the notebook's path: scalars in a GET's query, typed by the notebook's defaults", async () => {
    const result = await nbhook(["call", "echo.ipynb", "-p", "name", "Ada", "-p", "times", "2"]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ name: "Ada", times: 2, tags: [], type: "int" });
    expect(result.stderr).toMatch(/^nbhook: 200 application\/json; charset=utf-8 \(run [0-9a-f-]+\)$/m);
  });

  it("calls by URL; a structured value (or --post) sends JSON in a POST, big ints exactly", async () => {
    const list = await nbhook(["call", echo.url, "-y", '{"tags": ["a", 2]}', "-p", "name", "Bo", "--debug"]);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ name: "Bo", tags: ["a", 2] });
    expect(list.stderr).toContain("> POST");

    const big = await nbhook(["call", echo.url, "--post", "-p", "times", "12345678901234567890"]);
    expect(big.code, big.stderr).toBe(0);
    expect(big.stdout).toContain('"times": 12345678901234567890');
  });

  it("--async polls the run to its answer, with progress on stderr, and -o writes the body", async () => {
    const result = await nbhook(["call", "echo.ipynb", "--async", "-p", "name", "Cy", "-o", "answer.json"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("");
    expect(JSON.parse(readFileSync(path.join(dir, "answer.json"), "utf8"))).toMatchObject({ name: "Cy" });
    expect(result.stderr).toMatch(/nbhook: run [0-9a-f-]+ ok in \d+\.\d\d s/);
    expect(result.stderr).toContain("written to answer.json");
  });

  it("exits non-zero with the error body's message: 422, a failed run, 404, no such webhook", async () => {
    const invalid = await nbhook(["call", "echo.ipynb", "-p", "times", "abc"]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('422 parameter-invalid: parameter "times" expects int');
    expect(invalid.stdout).toBe("");

    const failed = await nbhook(["call", failing.url, "-o", "failed.json"]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/500 run-failed: .*boom/);
    expect(failed.stderr).toContain("ValueError");
    expect(existsSync(path.join(dir, "failed.json"))).toBe(false);

    const gone = await nbhook(["call", failing.url.replace(/\/notebook\/.*/, "/notebook/" + "x".repeat(43))]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/nbhook: 404 not-found: /);

    const undeployed = await nbhook(["call", "nowhere.ipynb"]);
    expect(undeployed.code).toBe(1);
    expect(undeployed.stderr).toContain(`nor deployed from ${path.join(dir, "nowhere.ipynb")}`);

    const notUrl = await nbhook(["call", "http://127.0.0.1:1/api/webhooks"]);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain("not a webhook URL");
  });
});

describe("NbhookClient.call", () => {
  it("answers status, headers and body, synchronously and asynchronously", async () => {
    const sync = await client.call(echo, { name: "Di", times: 3n });
    expect(sync.status).toBe(200);
    expect(sync.ok).toBe(true);
    expect(sync.contentType).toBe("application/json; charset=utf-8");
    expect(sync.runId).toMatch(/^[0-9a-f-]+$/);
    expect(sync.json()).toEqual({ name: "Di", times: 3, tags: [], type: "int" });

    const seen: Run[] = [];
    const later = await client.call(
      path.join(dir, "echo.ipynb"),
      { tags: ["x"] },
      {
        async: true,
        onProgress: (run) => seen.push(run),
      },
    );
    expect(later.status).toBe(200);
    expect(later.json()).toMatchObject({ tags: ["x"] });
    expect(seen.at(-1)?.status).toBe("ok");
    expect(later.runId).toBe(seen.at(-1)?.id);

    const failed = await client.call(failing.url, {}, { async: true });
    expect(failed.status).toBe(500);
    expect(failed.ok).toBe(false);
    expect(failed.json()).toMatchObject({ error: "run-failed", ename: "ValueError" });
  });

  it("retries a 503 busy after its Retry-After, within the bounds it is given", async () => {
    const flag = path.join(dir, "release");
    const holder = client.call(gate, { flag });
    await waitFor("the gate's run running", async () =>
      (await server.runs(gate.id)).some((r) => r.status === "running"),
    );

    // No retries: the 503 as the server gave it.
    const once = await new NbhookClient({ url: server.url, retry: { retries: 0 } }).call(echo);
    expect(once.status).toBe(503);
    expect(once.json()).toMatchObject({ error: "busy" });
    expect(once.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);

    // A Retry-After longer than the time allowed for waiting: no retry at all.
    const lines: string[] = [];
    const impatient = new NbhookClient({
      url: server.url,
      retry: { retries: 5, maxWaitMs: 100 },
      debug: true,
      log: (line) => lines.push(line),
    });
    expect((await impatient.call(echo)).status).toBe(503);
    expect(lines.filter((l) => l.includes("sending again"))).toEqual([]);

    // The CLI with the default bound (two retries, 10 s): still busy, exit 5 with the message.
    const cli = await nbhook(["call", "echo.ipynb"]);
    expect(cli.code).toBe(5);
    expect(cli.stderr).toMatch(/503 busy: .*\(Retry-After: \d+ s\)/);

    // Retrying: the gate opens once the first 503 has come, and the retry gets in.
    const retried: string[] = [];
    const patient = new NbhookClient({
      url: server.url,
      retry: { retries: 5, maxWaitMs: 60_000 },
      debug: true,
      log: (line) => {
        retried.push(line);
        if (line.includes("503 with Retry-After")) writeFileSync(flag, "");
      },
    });
    const answer: CallAnswer = await patient.call(echo, { name: "Ed" });
    expect(answer.status).toBe(200);
    expect(answer.json()).toMatchObject({ name: "Ed" });
    expect(retried.filter((l) => l.includes("sending again")).length).toBeGreaterThanOrEqual(1);
    expect((await holder).text()).toBe("released");
  }, 90_000);
});

/**
 * Secret-looking values sent to webhooks in debug mode (`--debug-runs`), on a real `nbhook serve`
 * process: in the query (`?password=`), a JSON body (`api_key`), a form, and headers
 * (`Authorization`, `X-Api-Key`), to notebooks that print them and raise errors carrying them.
 * Afterwards no byte of any file under the home (the SQLite database and its WAL, versions,
 * outputs, kernel folders) nor of the server's stdout and stderr holds a secret; neither does the
 * home while a kernel holding the secrets is still running (its IPython folder, its log).
 * A secret found is reported with its file, offset and the bytes around it.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  call,
  filesUnder,
  startFaultServer,
  stopFaultServers,
  tempFolder,
  waitFor,
  type FaultServer,
} from "../support/fault-server.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();
afterEach(stopFaultServers);

const QUERY_SECRET = "SECRET-Q-1234";
const BODY_SECRET = "SECRET-B-5678";
const HEADER_SECRET = "SECRET-H-9012";
const SECRETS = [QUERY_SECRET, BODY_SECRET, HEADER_SECRET];

/** Where each secret occurs in `data` (UTF-8, and UTF-16 for good measure), with context. */
function secretsIn(where: string, data: Buffer): string[] {
  const hits: string[] = [];
  for (const secret of SECRETS) {
    for (const needle of [Buffer.from(secret, "utf8"), Buffer.from(secret, "utf16le")]) {
      for (let at = data.indexOf(needle); at !== -1 && hits.length < 50; at = data.indexOf(needle, at + 1)) {
        const context = data
          .subarray(Math.max(0, at - 60), at + needle.length + 60)
          .toString("latin1")
          .replace(/[^\x20-\x7e]/g, ".");
        hits.push(`${secret} in ${where} at byte ${at}: …${context}…`);
      }
    }
  }
  return hits;
}

function secretsUnder(dir: string): string[] {
  return filesUnder(dir).flatMap((file) => {
    try {
      return secretsIn(file, readFileSync(file));
    } catch {
      return []; // removed meanwhile (a kernel's folder)
    }
  });
}

function secretsInLog(server: FaultServer): string[] {
  return [
    ...secretsIn("the server's stdout", Buffer.from(server.stdout())),
    ...secretsIn("the server's stderr", Buffer.from(server.stderr())),
  ];
}

const PARAMETERS = { source: 'password = ""\napi_key = ""\nname = "x"\nhold = False', tags: ["parameters"] };

describe("secrets sent to webhooks in debug mode", () => {
  it("are in no file under the home and in no line of the server's log", async () => {
    const server = await startFaultServer({ args: ["--pool", "1"] });
    const marker = path.join(tempFolder("marker-"), "printed");
    const echo = await server.deploy(
      "echo",
      [
        PARAMETERS,
        'print("api_key:", api_key)\nprint("password:", password)\nprint(params)\nprint(body)\nprint(headers)',
        `import time\nif hold:\n    open(${JSON.stringify(marker)}, "w").close()\n    time.sleep(1.5)`,
        "import naas\nnaas.webhook.respond_json({'ok': True})",
      ],
      { debug: true },
    );
    const raises = await server.deploy(
      "raises",
      [PARAMETERS, "print(api_key)", "def check(value):\n    raise ValueError(value)\ncheck(password)"],
      { debug: true },
    );
    const bearer = { authorization: `Bearer ${HEADER_SECRET}`, "x-api-key": HEADER_SECRET };
    const json = { ...bearer, "content-type": "application/json" };
    const form = { ...bearer, "content-type": "application/x-www-form-urlencoded" };

    // While a kernel that printed the secrets still runs: its folder, the database's WAL.
    const holding = call(`${echo.url}?password=${QUERY_SECRET}&hold=true`, { headers: bearer });
    await waitFor("the run printed the secrets", () => existsSync(marker), 30_000);
    const midRun = secretsUnder(server.home);
    const held = await holding;
    expect(held.status, held.text).toBe(200);

    const answers = [
      await call(echo.url, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ api_key: BODY_SECRET, name: "ada" }),
      }),
      await call(echo.url, {
        method: "POST",
        headers: form,
        body: `password=${QUERY_SECRET}&api_key=${BODY_SECRET}`,
      }),
      await call(`${raises.url}?password=${QUERY_SECRET}`, { headers: bearer }),
      await call(raises.url, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ api_key: BODY_SECRET, password: BODY_SECRET }),
      }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 500, 500]);
    for (const failed of answers.slice(2)) {
      expect(failed.json()).toMatchObject({ ename: "ValueError", evalue: "<redacted>" });
      expect(secretsIn("a failed call's answer", Buffer.from(failed.text))).toEqual([]);
    }
    // An asynchronous call: its answer is kept for pollers.
    const accepted = await call(`${raises.url}?password=${QUERY_SECRET}`, {
      headers: { ...bearer, prefer: "respond-async" },
    });
    expect(accepted.status, accepted.text).toBe(202);
    const asyncRun = accepted.json<{ id: string }>().id;
    await waitFor(
      "the asynchronous run ended",
      async () => !["queued", "running"].includes((await server.run(asyncRun)).status),
      20_000,
    );

    // The debug lines were written (else the log check below proves little): every call's
    // parameters, and the failed runs' tracebacks, which quote `check(password)`.
    // (Read from the server's stdout pipe: the last lines may still be on their way.)
    const debugLines = (msg: string) => server.logLines().filter((l) => l.msg === msg);
    await waitFor("the debug lines of every call", () => debugLines("debug: traceback").length >= 3, 5000);
    const parameterLines = debugLines("debug: run parameters");
    expect(parameterLines).toHaveLength(6);
    for (const line of parameterLines) expect(JSON.stringify(line)).toContain("<redacted>");
    const tracebacks = debugLines("debug: traceback").map((l) => String(l.traceback));
    expect(tracebacks).toHaveLength(3);
    for (const traceback of tracebacks) expect(traceback).toContain("ValueError: <redacted>");
    const runs = [...(await server.runs(echo.id)), ...(await server.runs(raises.id))];
    expect(runs.map((r) => r.status).sort()).toEqual(["error", "error", "error", "ok", "ok", "ok"]);

    const whileServing = secretsUnder(server.home);
    expect((await server.stop()).code).toBe(0);
    const afterStop = [...secretsUnder(server.home), ...secretsUnder(server.tmp), ...secretsInLog(server)];
    const found = [...new Set([...midRun, ...whileServing, ...afterStop])];
    expect(found, "secrets found").toEqual([]);
    console.info(
      `secrets: grepped ${filesUnder(server.home).length} files under the home and ${server.stdout().length + server.stderr().length} bytes of log`,
    );
  });
});

/**
 * The Python helper's management calls (`naas.webhook.add`, `find`, `list`, `get`, `clear`,
 * `get_output`, `clear_output`, `delete`, `currents`) from Debian's /usr/bin/python3 against the
 * real server, started in-process; every effect is checked through the REST API. Also: during a
 * run (NBHOOK_RUN set, and for real: a deployed notebook calling them on itself, run by the
 * server on a kernel) the calls deploy and delete nothing, and the read-only ones (find, list,
 * list_output, currents) answer as Naas's do in production.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PYTHON_HELPER_DIR } from "../../src/kernel/index.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook } from "../support/notebooks.js";

guardKernelLeaks();

const PYTHON = "/usr/bin/python3";
const PY_TIMEOUT_MS = 30_000;

interface PyResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** What the script passed to `out(...)`, parsed. */
  result: unknown;
}

interface PyError {
  type: string;
  mro: string[];
  message: string;
}

/** Helpers every script gets: `out(value)` reports a value, `error_of(fn, ...)` the exception. */
const PRELUDE = `
import json, os, sys
import naas
def out(value):
    print("@@RESULT " + json.dumps(value, default=str))
def error_of(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as e:
        return {"type": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__], "message": str(e)}
    return None
`;

let server: RunningServer;
let home: string;
let work: string;
let nbPath: string;

/** Runs `code` with /usr/bin/python3 in the notebook's folder, pointed at the test server. */
function py(code: string, env: Record<string, string> = {}): Promise<PyResult> {
  const base = { ...process.env };
  for (const name of ["NBHOOK_TOKEN", "NBHOOK_RUN", "NBHOOK_WEBHOOK_URL", "JPY_SESSION_NAME", "PYTHONPATH"])
    delete base[name];
  const childEnv = {
    ...base,
    PYTHONPATH: PYTHON_HELPER_DIR,
    NBHOOK_URL: server.url,
    NBHOOK_HOME: home,
    ...env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ["-c", PRELUDE + code], {
      cwd: work,
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), PY_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      const line = stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
      resolve({
        code,
        stdout,
        stderr: Buffer.concat(err).toString("utf8"),
        result: line ? JSON.parse(line.slice(9)) : undefined,
      });
    });
  });
}

/** Like `py`, but fails the test when the script fails, and returns what it reported. */
async function pyOk<T = unknown>(
  code: string,
  env: Record<string, string> = {},
): Promise<{ result: T; stdout: string }> {
  const run = await py(code, env);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return { result: run.result as T, stdout: run.stdout };
}

async function api<T = Record<string, unknown>>(urlPath: string): Promise<T> {
  const response = await fetch(server.url + urlPath, {
    headers: { authorization: `Bearer ${server.deps.apiToken}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

interface WebhookJson {
  id: string;
  path: string;
  url: string;
  params: Record<string, unknown>;
  updated_at: string;
  deleted_at: string | null;
  live_histo: string | null;
}

async function webhookAt(notebook: string, includeDeleted = false): Promise<WebhookJson | undefined> {
  const query = `path=${encodeURIComponent(notebook)}${includeDeleted ? "&include_deleted=true" : ""}`;
  return (await api<{ webhooks: WebhookJson[] }>(`/api/webhooks?${query}`)).webhooks[0];
}

async function versionsOf(id: string): Promise<{ histo: string; live: boolean }[]> {
  return (await api<{ versions: { histo: string; live: boolean }[] }>(`/api/webhooks/${id}/versions`))
    .versions;
}

function saveNotebook(marker: string): void {
  writeFileSync(nbPath, JSON.stringify(makeNotebook([`x = ${JSON.stringify(marker)}`])));
}

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), "nbhook-pyman-home-"));
  work = mkdtempSync(path.join(os.tmpdir(), "nbhook-pyman-work-"));
  nbPath = path.join(work, "nb.ipynb");
  saveNotebook("v1");
  // The kernels inherit this process's environment: the token file of this home is theirs to
  // read, as ~/.nbhook/api-token is for a server with the default home.
  process.env.NBHOOK_HOME = home;
  server = await startServer(resolveServerConfig({ host: "127.0.0.1", port: 0, home }, {}));
});

afterAll(async () => {
  await server?.close();
});

describe("naas.webhook management calls from Python", () => {
  let url = "";
  let id = "";

  it("add deploys the saved notebook with its params, prints and returns the URL", async () => {
    const { result, stdout } = await pyOk<string>(
      `out(naas.webhook.add(path="nb.ipynb", params={"inline": True, "notif_down": "ops@example.com", "city": "Paris"}))`,
    );
    const webhook = await webhookAt(nbPath);
    expect(webhook).toBeDefined();
    url = webhook!.url;
    id = webhook!.id;
    expect(result).toBe(url);
    expect(url).toMatch(new RegExp(`^${server.url}/notebook/[A-Za-z0-9_-]{32,}$`));
    expect(stdout).toContain(url);
    expect(webhook!.params).toEqual({ inline: true, notif_down: ["ops@example.com"], city: "Paris" });
    const deployed = await fetch(`${server.url}/api/webhooks/${id}/versions/latest`, {
      headers: { authorization: `Bearer ${server.deps.apiToken}` },
    });
    expect(JSON.parse(await deployed.text()).cells[0].source).toBe('x = "v1"');
  });

  it("find gives the URL, or None for a notebook not deployed", async () => {
    const { result } = await pyOk(
      `out([naas.webhook.find("nb.ipynb"), naas.webhook.find(path="missing.ipynb")])`,
    );
    expect(result).toEqual([url, null]);
  });

  it("with no path, the current notebook is the one Jupyter names in JPY_SESSION_NAME", async () => {
    const { result } = await pyOk(`out(naas.webhook.find())`, { JPY_SESSION_NAME: nbPath });
    expect(result).toBe(url);
    const run = await py(`out(error_of(naas.webhook.find))`);
    expect((run.result as PyError).message).toContain('naas.webhook.find(path="my_notebook.ipynb")');
  });

  it("list gives the versions: histo, created_at, size, live", async () => {
    const { result } = await pyOk<Record<string, unknown>[]>(`out(naas.webhook.list("nb.ipynb"))`);
    expect(result).toHaveLength(1);
    expect(Object.keys(result[0]!).sort()).toEqual(["created_at", "histo", "live", "size"]);
    expect(result[0]).toMatchObject({ live: true, histo: (await webhookAt(nbPath))!.live_histo });
  });

  it("get writes prod_<name> beside the notebook, <histo>___<name> for a histo, and never overwrites", async () => {
    const histo = (await versionsOf(id))[0]!.histo;
    const { result } = await pyOk(
      `out([naas.webhook.get("nb.ipynb"), naas.webhook.get("nb.ipynb", histo="${histo}"), error_of(naas.webhook.get, "nb.ipynb")])`,
    );
    const [prod, byHisto, again] = result as [string, string, PyError];
    expect(prod).toBe(path.join(work, "prod_nb.ipynb"));
    expect(byHisto).toBe(path.join(work, `${histo}___nb.ipynb`));
    expect(JSON.parse(readFileSync(prod, "utf8")).cells[0].source).toBe('x = "v1"');
    expect(existsSync(byHisto)).toBe(true);
    expect(again.type).toBe("FileExistsError");
    expect(again.message).toContain("prod_nb.ipynb already exists");
  });

  it("a re-add of the saved file keeps the URL and adds a version", async () => {
    saveNotebook("v2");
    const { result } = await pyOk(`out(naas.webhook.add())`, { JPY_SESSION_NAME: nbPath });
    expect(result).toBe(url);
    const versions = await versionsOf(id);
    expect(versions).toHaveLength(2);
    expect(versions.map((v) => v.live)).toEqual([true, false]);
  });

  it("clear(histo) removes one old version and refuses the live one", async () => {
    const [live, old] = await versionsOf(id);
    const { result } = await pyOk(
      `out([error_of(naas.webhook.clear, "nb.ipynb", histo="${live!.histo}"), naas.webhook.clear("nb.ipynb", histo="${old!.histo}")])`,
    );
    const [refused, deleted] = result as [PyError, string[]];
    expect(refused.type).toBe("Conflict");
    expect(refused.message).toContain("force=True");
    expect(deleted).toEqual([old!.histo]);
    expect((await versionsOf(id)).map((v) => v.histo)).toEqual([live!.histo]);
  });

  it("clear() removes every version but the live one", async () => {
    saveNotebook("v3");
    await pyOk(`naas.webhook.add("nb.ipynb"); naas.webhook.add("nb.ipynb")`);
    const before = await versionsOf(id);
    expect(before).toHaveLength(3);
    const { result } = await pyOk<string[]>(`out(naas.webhook.clear("nb.ipynb"))`);
    expect(result.sort()).toEqual(
      before
        .slice(1)
        .map((v) => v.histo)
        .sort(),
    );
    expect(await versionsOf(id)).toEqual([expect.objectContaining({ histo: before[0]!.histo, live: true })]);
  });

  it("currents lists the webhooks: raw dicts, or a printed table and rows", async () => {
    const { result, stdout } = await pyOk<{ raw: WebhookJson[]; table: string }>(
      `raw = naas.webhook.currents(raw=True)\n` +
        `rows = naas.webhook.currents()\n` +
        `out({"raw": raw, "table": type(rows).__name__})`,
    );
    expect(result.raw).toEqual([expect.objectContaining({ id, path: nbPath, url })]);
    expect(result.table).toMatch(/^(DataFrame|list)$/);
    expect(stdout).toMatch(/PATH\s+URL\s+LAST RUN/);
    expect(stdout).toContain(`${nbPath}  ${url}`);
  });

  it("get_output answers 404 until a run left an output, then writes output__<name>", async () => {
    const before = await py(`out(error_of(naas.webhook.get_output, "nb.ipynb"))`);
    expect(before.result).toMatchObject({
      type: "NotFound",
      message: expect.stringContaining("no output yet"),
    });
    expect((before.result as PyError).mro).toContain("LookupError");

    const webhook = (await webhookAt(nbPath))!;
    const outputs: string[] = [];
    for (const marker of ["out-1", "out-2"]) {
      const run = await server.deps.store.createRun({
        webhookId: id,
        versionHisto: webhook.live_histo!,
        parameters: {},
      });
      await server.deps.store.writeOutput(
        id,
        run.outputHisto,
        JSON.stringify(makeNotebook([`y = "${marker}"`])),
        run.id,
      );
      await server.deps.store.finishRun(run.id, {
        status: "ok",
        durationMs: 5,
        error: null,
        httpStatus: 200,
      });
      outputs.push(run.outputHisto);
    }
    const { result } = await pyOk(
      `out([naas.webhook.list_output("nb.ipynb"), naas.webhook.get_output("nb.ipynb"), naas.webhook.get_output("nb.ipynb", "${outputs[0]}"), error_of(naas.webhook.get_output, "nb.ipynb")])`,
    );
    const [listed, latest, first, again] = result as [{ histo: string }[], string, string, PyError];
    expect(listed.map((o) => o.histo)).toEqual([outputs[1], outputs[0]]);
    expect(latest).toBe(path.join(work, "output__nb.ipynb"));
    expect(JSON.parse(readFileSync(latest, "utf8")).cells[0].source).toBe('y = "out-2"');
    expect(first).toBe(path.join(work, `${outputs[0]}___output__nb.ipynb`));
    expect(JSON.parse(readFileSync(first, "utf8")).cells[0].source).toBe('y = "out-1"');
    expect(again.type).toBe("FileExistsError");
  });

  it("clear_output removes the latest output, all=True every one", async () => {
    const listed = async () =>
      (await api<{ outputs: { histo: string }[] }>(`/api/webhooks/${id}/outputs`)).outputs.map(
        (o) => o.histo,
      );
    const [newest, older] = await listed();
    expect((await pyOk(`out(naas.webhook.clear_output("nb.ipynb"))`)).result).toEqual([newest]);
    expect(await listed()).toEqual([older]);
    expect((await pyOk(`out(naas.webhook.clear_output("nb.ipynb", all=True))`)).result).toEqual([older]);
    expect(await listed()).toEqual([]);
  });

  it("during a run, add returns the running URL, nothing is deployed or deleted, and reads work", async () => {
    saveNotebook("changed during the run");
    const before = (await webhookAt(nbPath))!;
    const versionsBefore = await versionsOf(id);
    const runEnv = {
      NBHOOK_RUN: JSON.stringify({ path: nbPath, url, run_id: "run-1", webhook_id: id }),
      NBHOOK_WEBHOOK_URL: url,
    };
    const { result, stdout } = await pyOk(
      `out([naas.webhook.add(params={"inline": False}, recurrence="0 9 * * *"), naas.webhook.add("nb.ipynb"), ` +
        `naas.webhook.find(), naas.webhook.add("/elsewhere/other.ipynb"), naas.webhook.delete(), ` +
        `naas.webhook.clear(), naas.webhook.clear_output(), naas.webhook.get(), ` +
        `[w["path"] for w in naas.webhook.currents(raw=True)], [v["histo"] for v in naas.webhook.list()], ` +
        `naas.webhook.list_output("nb.ipynb") == naas.webhook.list_output(${JSON.stringify(nbPath)})])`,
      runEnv,
    );
    const histos = versionsBefore.map((v) => v.histo);
    expect(result).toEqual([url, url, url, null, null, null, null, null, [nbPath], histos, true]);
    expect(stdout).toContain("No add done, you are in production");
    expect(stdout).toContain("webhook.delete(): nothing done during a run");
    const after = (await webhookAt(nbPath))!;
    expect(after).toEqual(before);
    expect(await versionsOf(id)).toEqual(versionsBefore);
    expect(existsSync(path.join(work, "prod_nb.ipynb"))).toBe(true); // from the earlier test, untouched
  });

  it("debug=True prints the request and the reply, the token redacted", async () => {
    const { stdout } = await pyOk(`naas.webhook.add("nb.ipynb", debug=True)`);
    expect(stdout).toContain("nbhook debug: -> POST " + server.url + "/api/webhooks");
    expect(stdout).toContain("Bearer <redacted>");
    expect(stdout).toMatch(/<notebook: 1 cells/);
    expect(stdout).toMatch(/nbhook debug: <- 200 /);
    expect(stdout).not.toContain(server.deps.apiToken);
  });

  it("a wrong token gets a hint about NBHOOK_TOKEN", async () => {
    const run = await py(`out(error_of(naas.webhook.list, "nb.ipynb"))`, { NBHOOK_TOKEN: "not-the-token" });
    expect(run.result).toMatchObject({
      type: "Unauthorized",
      message: expect.stringContaining("NBHOOK_TOKEN"),
    });
    expect((run.result as PyError).mro).toContain("PermissionError");
  });

  it("delete makes the URL stop working; a later add brings the same URL back", async () => {
    const { result, stdout } = await pyOk(
      `out([naas.webhook.delete("nb.ipynb"), naas.webhook.find("nb.ipynb"), error_of(naas.webhook.list, "nb.ipynb")])`,
    );
    const [deleted, found, listError] = result as [null, null, PyError];
    expect(deleted).toBeNull();
    expect(found).toBeNull();
    expect(listError.type).toBe("NotFound");
    expect(listError.message).toContain(`no webhook for ${nbPath}: deploy it with naas.webhook.add(path=`);
    expect(stdout).toContain("answers 404");
    expect(await webhookAt(nbPath)).toBeUndefined();
    expect((await webhookAt(nbPath, true))!.deleted_at).not.toBeNull();
    expect((await fetch(url)).status).toBe(404);

    const again = await pyOk(`out(naas.webhook.add("nb.ipynb"))`);
    expect(again.result).toBe(url);
  });

  it("add(name=) deploys under a name the other calls then take as path=; a path under several names is refused with them", async () => {
    const { result, stdout } = await pyOk(
      `u = naas.webhook.add(path="nb.ipynb", name="py-named")\n` +
        `out([u, naas.webhook.find("py-named"), [v["live"] for v in naas.webhook.list("py-named")]])`,
    );
    const [added, found, live] = result as [string, string, boolean[]];
    expect(found).toBe(added);
    expect(live).toEqual([true]);
    // nb.ipynb is now deployed under its path and as py-named: the path alone is ambiguous unless
    // a webhook is named by it (it is: the first add above), so find(path) is that one.
    const byPath = await pyOk(`out(naas.webhook.find("nb.ipynb"))`);
    expect(byPath.result).not.toBe(added);
    const named = await fetch(`${server.url}/api/webhooks?name=py-named`, {
      headers: { authorization: `Bearer ${server.deps.apiToken}` },
    });
    const [webhook] = ((await named.json()) as { webhooks: { source_host: string; path: string }[] })
      .webhooks;
    expect(webhook).toMatchObject({ source_host: os.hostname(), path: nbPath });
    expect(stdout).toContain("Deployed");
    // A second name over the same path with none named by the path: refused, the names listed.
    const other = path.join(work, "twice.ipynb");
    writeFileSync(other, readFileSync(nbPath));
    const twice = await py(
      `naas.webhook.add(path="twice.ipynb", name="t-one")\nnaas.webhook.add(path="twice.ipynb", name="t-two")\n` +
        `out(error_of(naas.webhook.list, "twice.ipynb"))`,
    );
    const refused = twice.result as PyError;
    expect(refused.type).toBe("Conflict");
    expect(refused.message).toContain(`${other} is deployed under several names (t-one, t-two)`);
    await pyOk(
      `naas.webhook.delete(path="py-named")\nnaas.webhook.delete(path="t-one")\nnaas.webhook.delete(path="t-two")`,
    );
  });

  it("a bad add-time parameter name comes back as the server's message", async () => {
    const run = await py(`out(error_of(naas.webhook.add, "nb.ipynb", params={"not a name": 1}))`);
    expect(run.result).toMatchObject({ type: "ApiError", message: expect.stringContaining("not a name") });
  });
});

describe("a deployed notebook calling naas.webhook.* on itself, run by the server", () => {
  it("gets its own URL from add and find, deploys and deletes nothing, and its output can be fetched", async () => {
    const selfPath = path.join(work, "selfcall.ipynb");
    writeFileSync(
      selfPath,
      JSON.stringify(
        makeNotebook([
          "import naas",
          [
            "seen = {",
            '    "add": naas.webhook.add(),',
            '    "add_relative": naas.webhook.add("selfcall.ipynb", params={"inline": True}),',
            '    "find": naas.webhook.find(),',
            '    "other": naas.webhook.add("/elsewhere/other.ipynb"),',
            '    "delete": naas.webhook.delete(),',
            '    "clear": naas.webhook.clear(histo="all"),',
            '    "versions": len(naas.webhook.list()),',
            '    "outputs": naas.webhook.list_output("selfcall.ipynb"),',
            '    "find_other": naas.webhook.find("nb.ipynb"),',
            '    "find_missing": naas.webhook.find("missing.ipynb"),',
            '    "currents": sorted(w["path"] for w in naas.webhook.currents(raw=True)),',
            "}",
          ].join("\n"),
          "naas.webhook.respond_json(seen)",
        ]),
      ),
    );
    const { result: selfUrl } = await pyOk<string>(`out(naas.webhook.add("selfcall.ipynb"))`);
    const before = (await webhookAt(selfPath))!;

    const response = await fetch(selfUrl);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      add: selfUrl,
      add_relative: selfUrl,
      find: selfUrl,
      other: null,
      delete: null,
      clear: null,
      versions: 1,
      outputs: [],
      find_other: (await webhookAt(nbPath))!.url,
      find_missing: null,
      currents: [nbPath, selfPath],
    });

    const after = (await webhookAt(selfPath))!;
    expect(after).toMatchObject({
      deleted_at: null,
      live_histo: before.live_histo,
      params: before.params,
      updated_at: before.updated_at,
    });
    expect(await versionsOf(after.id)).toHaveLength(1);

    const { result: written } = await pyOk<string>(`out(naas.webhook.get_output("selfcall.ipynb"))`);
    expect(written).toBe(path.join(work, "output__selfcall.ipynb"));
    const output = readFileSync(written, "utf8");
    expect(output).toContain("No add done, you are in production");
    expect(output).toContain("webhook.delete(): nothing done during a run");
  });
});

/**
 * A seeded fuzz of a real server over loopback (real HTTP, a real ipykernel from /usr/bin/python3)
 * with hostile webhook calls and deployments: deep nesting, huge numbers, odd keys and upload
 * names, malformed multipart, invalid UTF-8, odd content types and methods, huge headers, empty
 * bodies, duplicated keys, hostile dependency paths. The notebook cannot fail, so every answer must
 * be the caller's (2xx, 3xx or 4xx, the errors in nbhook's JSON shape), never a 5xx; many cases also
 * know their exact status. Most requests must be refused before any kernel starts; the ones that
 * run share two kernels of `reuse` mode, so the whole fuzz takes seconds.
 *
 * The seed is fixed (NBHOOK_FUZZ_SEED overrides it) and printed with every failure: rerun with it
 * to replay the same requests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ErrorCode } from "../../src/errors.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import { statusOf } from "../../src/server/http-errors.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook } from "../support/notebooks.js";

guardKernelLeaks();

const SEED = Number(process.env.NBHOOK_FUZZ_SEED ?? 0x5eed);
const REQUESTS = 3000;
const CONCURRENCY = 8;
const MAX_BODY = 512 * 1024;

const NOTEBOOK = makeNotebook([
  { source: 'n = 1\nname = "x"\nflag = False\nitems = []', tags: ["parameters"] },
  'import naas\nnaas.webhook.respond_json({"ok": True})',
]);

let server: RunningServer;
let home: string;
const targets: string[] = [];
let agent: http.Agent;

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), "fuzz-home-"));
  const config = resolveServerConfig(
    { host: "127.0.0.1", port: 0, home, poolSize: 1, maxRuns: 2, maxQueue: 10_000, maxBodyBytes: MAX_BODY },
    {},
  );
  server = await startServer(config);
  agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  // Two webhooks, each with one reused kernel: the calls that run take turns on two kernels.
  for (const name of ["a", "b"]) {
    const webhook = await server.deps.store.upsertWebhook({
      path: `/work/fuzz/${name}.ipynb`,
      params: {},
      debug: false,
      timeoutMs: 60_000,
      settings: { mode: "reuse", reuseCalls: 100_000 },
    });
    await server.deps.store.addVersion(webhook.id, Buffer.from(JSON.stringify(NOTEBOOK)));
    targets.push(`/notebook/${webhook.token}`);
  }
});

afterAll(async () => {
  agent?.destroy();
  await server?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Dice {
  constructor(readonly next: () => number) {}
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile requests

interface Hostile {
  kind: string;
  method: string;
  /** Path and query string. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The statuses this request may get; any non-5xx when absent. */
  expect?: number[];
}

const OK = [200];
const REFUSED = [422];
const BAD = [400];

function post(target: string, kind: string, type: string, body: Buffer | string, expect?: number[]): Hostile {
  return {
    kind,
    method: "POST",
    path: target,
    headers: { "content-type": type },
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    expect,
  };
}

/** `depth` lists/objects inside each other around `1`, as JSON text, built without recursion. */
function nested(dice: Dice, depth: number, shape: "list" | "dict" | "mixed"): string {
  const opens: string[] = [];
  const closes: string[] = [];
  for (let i = 0; i < depth; i++) {
    const list = shape === "list" || (shape === "mixed" && dice.chance(0.5));
    opens.push(list ? "[" : '{"k":');
    closes.push(list ? "]" : "}");
  }
  return opens.join("") + "1" + closes.reverse().join("");
}

const DEPTHS = [1, 2, 50, 99, 100, 101, 150, 199, 200, 201, 1000, 5000, 8000, 20000, 100_000];

function deepJson(dice: Dice, target: string): Hostile {
  const depth = dice.pick(DEPTHS);
  const shape = dice.pick(["list", "dict", "mixed"] as const);
  // `{"deep": <depth - 1 levels>}`: the body is `depth` levels deep.
  const text = `{"deep": ${nested(dice, depth - 1, shape)}}`;
  // The deepest ones are also over the body limit, and that may be found first.
  const refused = text.length > MAX_BODY ? [...REFUSED, 413] : REFUSED;
  return post(target, `deep-json-${depth}`, "application/json", text, depth <= 100 ? OK : refused);
}

function deepQuery(dice: Dice, target: string): Hostile {
  const depth = dice.pick([1, 50, 100, 101, 200, 500]);
  if (dice.chance(0.5)) {
    // `items = []` makes `?items=` JSON: nested too deep is refused, else it runs.
    const list = `[${nested(dice, depth - 1, dice.pick(["list", "mixed"] as const))}]`;
    const value = encodeURIComponent(list);
    return {
      kind: `deep-query-items-${depth}`,
      method: "GET",
      path: `${target}?items=${value}`,
      headers: {},
      expect: depth <= 100 ? OK : REFUSED,
    };
  }
  // PHP-style keys stay plain strings (not identifiers: only in `params`); `n` makes it refused.
  const key = "a" + "[b]".repeat(depth * 2); // under Node's 16 KiB header limit, encoded
  const refuse = dice.chance(0.8);
  return {
    kind: "deep-query-key",
    method: dice.pick(["GET", "POST"]),
    path: `${target}?${encodeURIComponent(key)}=1${refuse ? "&n=abc" : ""}`,
    headers: {},
    expect: refuse ? REFUSED : OK,
  };
}

function digits(dice: Dice, count: number): string {
  let text = String(dice.int(1, 9));
  while (text.length < count) text += "9876543210".slice(0, Math.min(10, count - text.length));
  return text;
}

const INT_DIGITS = [1, 20, 309, 400, 4299, 4300, 4301, 5000, 10_000, 10_001, 50_000];

function bigJsonNumber(dice: Dice, target: string): Hostile {
  const roll = dice.int(0, 2);
  let literal: string;
  let expect: number[];
  if (roll === 0) {
    const count = dice.pick(INT_DIGITS);
    literal = (dice.chance(0.3) ? "-" : "") + digits(dice, count);
    expect = count <= 4300 ? OK : REFUSED;
  } else if (roll === 1) {
    literal = dice.pick([
      "1e400",
      "-1e400",
      "-0",
      "-0.0",
      "1e-400",
      "0.1",
      "1E+2",
      "123456789.123456789e300",
    ]);
    expect = OK;
  } else {
    literal = dice.pick(["NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "0x10", "1e", "--1"]);
    expect = BAD;
  }
  const text = dice.chance(0.5) ? `{"n": ${literal}}` : `{"a": [1, {"b": ${literal}}], "name": "z"}`;
  return post(target, "big-json-number", "application/json", text, expect);
}

function queryNumber(dice: Dice, target: string): Hostile {
  const cases: Array<[string, number[]]> = [
    [digits(dice, dice.pick([4300, 4301, 10_001, 12_000])), []],
    ["1e400", REFUSED],
    ["-0", OK],
    ["NaN", REFUSED],
    ["١٢٣", OK],
    ["1_000", OK],
    ["  7  ", OK],
    ["9".repeat(30), OK],
  ];
  const [value, given] = dice.pick(cases);
  const expect = given.length ? given : value.length <= 4300 ? OK : REFUSED;
  const flag = dice.pick([
    ["", OK],
    ["&flag=yes", OK],
    ["&flag=maybe", REFUSED],
  ] as const);
  return {
    kind: "query-number",
    method: "GET",
    path: `${target}?n=${encodeURIComponent(value)}${flag[0]}`,
    headers: {},
    expect: flag[1] === REFUSED ? REFUSED : expect,
  };
}

const ODD_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "",
  " ",
  "1abc",
  "a-b",
  "a.b",
  "名前",
  "a\u0000b",
  "\u202Eevil",
  "x".repeat(10_000),
  "__class__",
  "__import__",
  "params",
  "body",
  "headers",
  "None",
  "True",
  "def",
  "lambda",
  "print",
  "n",
  "ﬁle",
  "😀",
];

/** Odd keys in a JSON body, the query or a form; a refusal (`n=abc` or `flag=maybe`) most times. */
function oddKeys(dice: Dice, target: string): Hostile {
  const keys = Array.from({ length: dice.int(1, 4) }, () => dice.pick(ODD_KEYS));
  const refuse = dice.chance(0.75);
  const where = dice.pick(["json", "query", "form"] as const);
  if (where === "json") {
    const members = keys.map((k) => `${JSON.stringify(k)}: ${JSON.stringify("v")}`);
    const text = `{${members.join(", ")}${refuse ? ', "n": ' + digits(dice, 4301) : ""}}`;
    return post(target, "odd-keys-json", "application/json", text, refuse ? REFUSED : OK);
  }
  const pairs = keys.map((k) => `${encodeURIComponent(k)}=v`);
  if (refuse) pairs.push("n=abc");
  const refused = refuse || keys.includes("n"); // `n=v` is not an int either
  const text = pairs.join("&");
  if (where === "query") {
    const long = text.length > 12_000; // keep the request line under Node's header limit
    return {
      kind: "odd-keys-query",
      method: "GET",
      path: `${target}?${long ? "n=abc" : text}`,
      headers: {},
      expect: refused || long ? REFUSED : OK,
    };
  }
  return post(target, "odd-keys-form", "application/x-www-form-urlencoded", text, refused ? REFUSED : OK);
}

const UPLOAD_NAMES = [
  "é".repeat(200),
  "a".repeat(300) + ".csv",
  "é".repeat(130) + ".tar.gz",
  "x." + "é".repeat(200),
  ".",
  "..",
  "../",
  "../x",
  "../../etc/passwd",
  "a\u0000b.txt",
  "a\\b\\c.txt",
  "\u202Etxt.exe",
  "",
  "😀".repeat(70),
  "report.csv",
  "report.csv",
  "CON",
  " spaced ",
];

/** A multipart body, as bytes (names written raw, UTF-8). */
function multipart(
  boundary: string,
  parts: Array<{ name: string; filename?: string; data: Buffer }>,
): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const file = part.filename === undefined ? "" : `; filename="${part.filename.replaceAll('"', "%22")}"`;
    const type = part.filename === undefined ? "" : "\r\nContent-Type: application/octet-stream";
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"${file}${type}\r\n\r\n`,
      ),
    );
    chunks.push(part.data, Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

function randomBytes(dice: Dice, size: number): Buffer {
  return Buffer.from(Array.from({ length: size }, () => dice.int(0, 255)));
}

function uploads(dice: Dice, target: string): Hostile {
  const boundary = `fuzz${dice.int(0, 1e9)}`;
  const files = Array.from({ length: dice.int(1, 3) }, () => ({
    name: dice.pick(["upload", "file", "doc"]),
    filename: dice.pick(UPLOAD_NAMES),
    data: randomBytes(dice, dice.int(0, 64)),
  }));
  const refuse = dice.chance(0.6);
  const fields = [{ name: "name", data: Buffer.from("Zoë") }];
  if (refuse) fields.push({ name: "n", data: Buffer.from("abc") });
  return post(
    target,
    "uploads",
    `multipart/form-data; boundary=${boundary}`,
    multipart(boundary, [...fields, ...files]),
    refuse ? REFUSED : OK,
  );
}

function malformedMultipart(dice: Dice, target: string): Hostile {
  const boundary = `fuzz${dice.int(0, 1e9)}`;
  const whole = multipart(boundary, [
    { name: "name", data: Buffer.from("x") },
    { name: "file", filename: "a.bin", data: randomBytes(dice, 100) },
  ]);
  const cases: Array<[string, string, Buffer]> = [
    [
      "truncated",
      `multipart/form-data; boundary=${boundary}`,
      whole.subarray(0, dice.int(1, whole.length - 10)),
    ],
    ["no-boundary", "multipart/form-data", whole],
    ["wrong-boundary", "multipart/form-data; boundary=other", whole],
    ["garbage", `multipart/form-data; boundary=${boundary}`, randomBytes(dice, dice.int(1, 200))],
    [
      "no-header-end",
      `multipart/form-data; boundary=${boundary}`,
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="a"`),
    ],
  ];
  const [name, type, body] = dice.pick(cases);
  return post(target, `malformed-multipart-${name}`, type, body, BAD);
}

function invalidUtf8(dice: Dice, target: string): Hostile {
  const bad = dice.pick([
    [0xff],
    [0xc3, 0x28],
    [0xc0, 0xaf],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xe2, 0x82],
  ]);
  const bytes = (before: string, after: string) =>
    Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(after)]);
  const percent = bad.map((b) => `%${b.toString(16).toUpperCase()}`).join("");
  switch (dice.int(0, 5)) {
    case 0:
      return post(target, "utf8-json", "application/json", bytes('{"name": "', '"}'), BAD);
    case 1:
      return post(target, "utf8-form-raw", "application/x-www-form-urlencoded", bytes("name=", ""), BAD);
    case 2:
      return post(target, "utf8-form-percent", "application/x-www-form-urlencoded", `name=${percent}`, BAD);
    case 3:
      return post(
        target,
        "utf8-text",
        dice.pick(["text/plain", "application/octet-stream", "text/csv"]),
        bytes("hello ", ""),
        BAD,
      );
    case 4:
      return {
        kind: "utf8-query",
        method: "GET",
        path: `${target}?name=${percent}`,
        headers: {},
        expect: BAD,
      };
    default:
      return {
        kind: "utf8-query-key",
        method: "POST",
        path: `${target}?${percent}=1`,
        headers: {},
        expect: BAD,
      };
  }
}

function oddContentType(dice: Dice, target: string): Hostile {
  const cases: Array<[string, string, number[] | undefined]> = [
    ["application/json; charset=latin1", '{"n": 2}', OK],
    ["application/JSON", '{"n": 2}', OK],
    ["Application/Json ; charset=UTF-8", "[]", OK],
    ["application/json", '"just a string"', OK],
    ["application/json", "3", OK],
    ["application/json", "null", OK],
    ["application/json", "   ", OK],
    ["application/json", '\ufeff{"n": 2}', undefined],
    ["application/json", '{"n": 2', BAD],
    ["application/json", "{'n': 2}", BAD],
    ["text/plain;;;", "hello", OK],
    ["multipart/form-data", "a=1", BAD],
    ["multipart/mixed; boundary=x", "--x--", undefined],
    ["application/x-www-form-urlencoded", '{"n": 2}', OK],
    ["application/x-www-form-urlencoded", "n=2&n=abc", REFUSED],
    ["application/x-www-form-urlencoded", "%%%&=&==&&", OK],
    ["*/*", "x", undefined],
    ["image/png", "\u0089PNG", OK],
    ["application/xml", "<a/>", OK],
    ["", "n=2", undefined],
    ["text/plain; charset=utf-16", "hi", OK],
  ];
  const [type, body, expect] = dice.pick(cases);
  const hostile = post(target, `content-type ${type || "(empty)"}`, type, body, expect);
  // A refusal besides most of the time, so that few of these start a kernel.
  if (dice.chance(0.6) && expect !== undefined && expect !== BAD) {
    hostile.path += "?flag=maybe"; // (`n` could come from the body, which wins)
    hostile.expect = REFUSED;
  }
  return hostile;
}

function hugeHeaders(dice: Dice, target: string): Hostile {
  const headers: Record<string, string> = { "x-big": "a".repeat(dice.int(1000, 9000)) };
  for (let i = 0; i < dice.int(0, 80); i++) headers[`x-h${i}`] = String(i).repeat(dice.int(1, 20));
  if (dice.chance(0.3)) headers.authorization = "Bearer " + "s".repeat(2000);
  if (dice.chance(0.3)) headers.cookie = "sid=" + "c".repeat(1000);
  const refuse = dice.chance(0.75);
  return {
    kind: "huge-headers",
    method: "GET",
    path: `${target}${refuse ? "?n=abc" : ""}`,
    headers,
    expect: refuse ? REFUSED : OK,
  };
}

function emptyBody(dice: Dice, target: string): Hostile {
  const [type, expect] = dice.pick([
    ["application/json", OK],
    ["application/x-www-form-urlencoded", OK],
    ["text/plain", OK],
    ["multipart/form-data; boundary=x", undefined], // no parts at all
  ] as const);
  const hostile = post(target, `empty ${type}`, type, Buffer.alloc(0), expect && [...expect]);
  if (dice.chance(0.6)) {
    hostile.path += "?flag=maybe";
    hostile.expect = REFUSED;
  }
  return hostile;
}

function duplicatedKeys(dice: Dice, target: string): Hostile {
  const refuse = dice.chance(0.7);
  if (dice.chance(0.5)) {
    const text = `{"n": 1, "name": "a", "n": ${refuse ? digits(dice, 5000) : "2"}, "name": "b"}`;
    return post(target, "duplicate-json", "application/json", text, refuse ? REFUSED : OK);
  }
  return {
    kind: "duplicate-query",
    method: "GET",
    path: `${target}?n=1&n=2&name=a&name=b${refuse ? "&n=abc" : ""}`,
    headers: {},
    expect: refuse ? REFUSED : OK,
  };
}

function method(dice: Dice, target: string): Hostile {
  const name = dice.pick(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]);
  return { kind: `method ${name}`, method: name, path: target, headers: {}, expect: [405] };
}

function overLimit(dice: Dice, target: string): Hostile {
  const type = dice.pick(["application/json", "application/x-www-form-urlencoded", "text/plain"]);
  return post(target, `over-limit ${type}`, type, "x".repeat(MAX_BODY + dice.int(1, 1000)), [413]);
}

function unknownToken(dice: Dice): Hostile {
  const token = dice.pick(["a".repeat(43), "", "..%2F..%2Fapi", "%00", "x".repeat(2000)]);
  return {
    kind: "unknown-token",
    method: dice.pick(["GET", "POST"]),
    path: `/notebook/${token}`,
    headers: {},
    expect: [404],
  };
}

const DEPENDENCY_PATHS: Array<[string[], number[]]> = [
  [["x".repeat(300)], BAD],
  [["é".repeat(130)], BAD],
  [["é".repeat(120)], [200, 201]],
  [["a".repeat(240)], [200, 201]],
  [["a".repeat(241)], BAD],
  [[Array.from({ length: 5 }, () => "d".repeat(240)).join("/")], BAD],
  [["../x"], BAD],
  [["/abs/x"], BAD],
  [["a/"], BAD],
  [["a\u0000b"], BAD],
  [["a\nb"], BAD],
  [["."], BAD],
  [[""], BAD],
  [["a", "a/b"], BAD],
  [
    ["a//b", "./c", "d\\e"],
    [200, 201],
  ],
];

/** A deployment through the management API with hostile dependency paths or params. */
function hostileAdd(dice: Dice, index: number): Hostile {
  const add: Record<string, unknown> = { path: `/work/fuzz/deploy${index}.ipynb`, notebook: NOTEBOOK };
  let expect: number[];
  if (dice.chance(0.2)) {
    // A notebook nested thousands of levels deep (in a cell's metadata), as an object or as text.
    const depth = dice.pick([50, 5000, 20_000]);
    const cell = `{"cell_type": "code", "source": "1", "outputs": [], "execution_count": null, "metadata": {"deep": ${nested(dice, depth, "mixed")}}}`;
    const notebook = `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [${cell}]}`;
    const asText = dice.chance(0.5);
    const text = `{"path": ${JSON.stringify(add.path)}, "notebook": ${asText ? JSON.stringify(notebook) : notebook}}`;
    return {
      kind: `add-deep-notebook-${asText ? "text" : "object"}-${depth}`,
      method: "POST",
      path: "/api/webhooks",
      headers: { ...auth(), "content-type": "application/json" },
      body: Buffer.from(text),
      expect: depth <= 1000 ? [200, 201] : [422],
    };
  }
  if (dice.chance(0.6)) {
    const [paths, wanted] = dice.pick(DEPENDENCY_PATHS);
    add.files = paths.map((p) => ({ path: p, data: "aGk=" }));
    expect = wanted;
  } else {
    const depth = dice.pick([1, 100, 101, 5000, 20_000]);
    expect = depth <= 100 ? [200, 201] : REFUSED;
    // Written as text: JSON.stringify of a value thousands of levels deep overflows the stack.
    const text =
      `{"path": ${JSON.stringify(add.path)}, "notebook": ${JSON.stringify(NOTEBOOK)}, ` +
      `"params": {"deep": ${nested(dice, depth, "mixed")}}}`;
    return {
      kind: `add-params-${depth}`,
      method: "POST",
      path: "/api/webhooks",
      headers: { ...auth(), "content-type": "application/json" },
      body: Buffer.from(text),
      expect,
    };
  }
  return {
    kind: add.files ? "add-files" : "add-params",
    method: "POST",
    path: "/api/webhooks",
    headers: { ...auth(), "content-type": "application/json" },
    body: Buffer.from(JSON.stringify(add)),
    expect,
  };
}

const auth = () => ({ authorization: `Bearer ${server.deps.apiToken}` });

type Generator = (dice: Dice, target: string, index: number) => Hostile;

const GENERATORS: Array<[weight: number, Generator]> = [
  [4, deepJson],
  [2, deepQuery],
  [4, bigJsonNumber],
  [3, queryNumber],
  [3, oddKeys],
  [3, uploads],
  [2, malformedMultipart],
  [3, invalidUtf8],
  [3, oddContentType],
  [1, hugeHeaders],
  [1, emptyBody],
  [1, duplicatedKeys],
  [1, method],
  [0.2, overLimit],
  [0.3, (dice) => unknownToken(dice)],
  [2, (dice, _target, index) => hostileAdd(dice, index)],
];

function generate(dice: Dice, index: number): Hostile {
  const total = GENERATORS.reduce((sum, [weight]) => sum + weight, 0);
  let roll = dice.next() * total;
  const target = dice.pick(targets);
  let hostile = deepJson(dice, target);
  for (const [weight, generator] of GENERATORS) {
    roll -= weight;
    if (roll < 0) {
      hostile = generator(dice, target, index);
      break;
    }
  }
  return dice.chance(0.6) ? refusedMostly(hostile) : hostile;
}

/**
 * A request that would run, refused instead by a bool parameter that is not one (no generated body
 * has a `flag` key, and the query's last value wins): it checks that everything else in the
 * request passes, without a kernel.
 */
function refusedMostly(hostile: Hostile): Hostile {
  if (hostile.expect?.length !== 1 || hostile.expect[0] !== 200) return hostile;
  const path = `${hostile.path}${hostile.path.includes("?") ? "&" : "?"}flag=maybe`;
  return { ...hostile, path, expect: REFUSED };
}

// ---------------------------------------------------------------------------------------------
// Sending

interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}

function send(request: Hostile): Promise<Answer> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.path,
        headers: { ...request.headers, "content-length": String(request.body?.length ?? 0) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers["content-type"] ?? ""),
            body: Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(request.body);
  });
}

/** What is wrong with an answer, or undefined. */
function problemOf(request: Hostile, answer: Answer): string | undefined {
  if (answer.status >= 500) return `a ${answer.status}: ${answer.body.toString("utf8").slice(0, 300)}`;
  if (request.expect && !request.expect.includes(answer.status)) {
    return `status ${answer.status}, expected ${request.expect.join(" or ")}: ${answer.body.toString("utf8").slice(0, 300)}`;
  }
  if (answer.status >= 400 && request.method !== "HEAD") {
    if (!answer.contentType.startsWith("application/json"))
      return `a ${answer.status} of type ${answer.contentType}`;
    let body: unknown;
    try {
      body = JSON.parse(answer.body.toString("utf8"));
    } catch {
      return `a ${answer.status} whose body is not JSON: ${answer.body.toString("utf8").slice(0, 200)}`;
    }
    const shape = body as { error?: unknown; message?: unknown };
    if (typeof shape.error !== "string" || typeof shape.message !== "string" || shape.message.length < 10) {
      return `a ${answer.status} without nbhook's error shape: ${JSON.stringify(body).slice(0, 200)}`;
    }
    if (statusOf(shape.error as ErrorCode) !== answer.status) {
      return `a ${answer.status} without nbhook's error shape: ${JSON.stringify(body).slice(0, 200)}`;
    }
  }
  return undefined;
}

interface FuzzResult {
  seconds: number;
  /** Answers by status. */
  statuses: Map<number, number>;
  /** Answers by kind of request and status (`deep-json 422`), for a failure's report. */
  kinds: Map<string, number>;
  problems: string[];
}

/** Sends `requests`, CONCURRENCY at a time, and checks each answer. */
async function fuzz(requests: Hostile[]): Promise<FuzzResult> {
  const result: FuzzResult = { seconds: 0, statuses: new Map(), kinds: new Map(), problems: [] };
  const count = (map: Map<string | number, number>, key: string | number) =>
    map.set(key, (map.get(key) ?? 0) + 1);
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < requests.length; i = next++) {
      const request = requests[i]!;
      let problem: string | undefined;
      try {
        const answer = await send(request);
        count(result.statuses, answer.status);
        count(result.kinds, `${request.kind.replace(/-\d+$/, "")} ${answer.status}`);
        problem = problemOf(request, answer);
      } catch (err) {
        problem = `the request failed: ${(err as Error).message}`;
      }
      if (problem) {
        result.problems.push(
          `#${i} ${request.kind} ${request.method} ${request.path.slice(0, 80)}: ${problem}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

const tally = (map: Map<string | number, number>) =>
  [...map].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, n]) => `${key}: ${n}`);

describe(`server fuzz (seed ${SEED})`, () => {
  it(`answers ${REQUESTS} hostile requests without a 5xx, every error in nbhook's JSON shape`, async () => {
    const dice = new Dice(random(SEED));
    const result = await fuzz(Array.from({ length: REQUESTS }, (_, i) => generate(dice, i)));
    console.log(
      `fuzz seed ${SEED}: ${REQUESTS} requests in ${result.seconds.toFixed(1)} s; ` +
        tally(result.statuses).join(", "),
    );
    if (result.problems.length) {
      console.log(`by kind:\n${tally(result.kinds).join("\n")}`);
      for (const problem of result.problems.slice(0, 100)) console.log(problem.slice(0, 400));
    }
    expect(
      result.problems.slice(0, 20),
      `seed ${SEED} (set NBHOOK_FUZZ_SEED to replay); ${result.problems.length} problems`,
    ).toEqual([]);

    // Still healthy: a plain call runs, the API answers, no run is left running.
    const healthy = await send({ kind: "health", method: "GET", path: `${targets[0]}?n=5`, headers: {} });
    expect([healthy.status, JSON.parse(healthy.body.toString("utf8"))]).toEqual([200, { ok: true }]);
    const api = await send({ kind: "health", method: "GET", path: "/api/webhooks", headers: auth() });
    expect(api.status).toBe(200);
    const runs = await server.deps.store.listRuns({ limit: 1000 });
    expect(runs.filter((r) => r.status !== "ok").map((r) => [r.status, r.error])).toEqual([]);
    // Most hostile requests never reached a kernel.
    expect(runs.length).toBeLessThan(REQUESTS / 4);
  }, 120_000);

  it("refuses dependency paths a file system cannot take with a 400 naming the path and the limit", async () => {
    const add = async (files: Array<{ path: string }>, name: string) => {
      const res = await fetch(`${server.url}/api/webhooks`, {
        method: "POST",
        headers: { ...auth(), "content-type": "application/json" },
        body: JSON.stringify({
          path: `/work/fuzz/paths-${name}.ipynb`,
          notebook: NOTEBOOK,
          files: files.map((f) => ({ ...f, data: "aGk=" })),
        }),
      });
      return { status: res.status, body: (await res.json()) as { error: string; message: string } };
    };
    const long = await add([{ path: `data/${"x".repeat(300)}.csv` }], "long");
    expect(long.status).toBe(400);
    expect(long.body.error).toBe("usage");
    expect(long.body.message).toMatch(
      /^dependency file path "data\/x+…" has a folder or file name of 304 bytes \(UTF-8\): each name .* at most 240$/,
    );
    const total = await add([{ path: Array.from({ length: 5 }, () => "d".repeat(240)).join("/") }], "total");
    expect([total.status, total.body.message]).toEqual([
      400,
      expect.stringMatching(/1204 bytes long .* at most 1024$/),
    ]);
    const nul = await add([{ path: "a\u0000b" }], "nul");
    expect([nul.status, nul.body.message]).toEqual([400, expect.stringContaining("control characters")]);
    const both = await add([{ path: "a" }, { path: "a/b" }], "both");
    expect([both.status, both.body.message]).toEqual([
      400,
      expect.stringContaining('"a" and "a/b" cannot both exist'),
    ]);

    const fits = await add([{ path: "é".repeat(120) }], "fits");
    expect(fits.status).toBe(201);
    const later = await add([{ path: `${"é".repeat(120)}/inner.csv` }], "fits");
    expect([later.status, later.body.error]).toEqual([409, "conflict"]);
    expect(later.body.message).toContain("meets a file or folder deployed before");
  });
});

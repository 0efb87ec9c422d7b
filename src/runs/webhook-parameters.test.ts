import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import type { Notebook, ParamValue } from "../notebook/types.js";
import {
  buildWebhookParameters,
  isSecretName,
  kernelHeaders,
  redactParameters,
  type RequestBody,
  type RequestInput,
} from "./webhook-parameters.js";

function notebook(defaults: string): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: [
      {
        cell_type: "code",
        source: defaults,
        metadata: { tags: ["parameters"] },
        outputs: [],
        execution_count: null,
      },
    ],
  } as Notebook;
}

const NB = notebook('days = 3\nrate = 0.5\nflag = False\nitems = []\nname = "x"');

function build(
  request: Partial<RequestInput>,
  addParams: Record<string, unknown> = {},
  language: "python" | "typescript" = "python",
) {
  return buildWebhookParameters({
    notebook: NB,
    language,
    addParams,
    request: { query: {}, headers: {}, body: { kind: "none" }, ...request },
  });
}

describe("buildWebhookParameters", () => {
  it("puts add-time params first, then params, body, headers, then the flattened request", () => {
    const out = build(
      { query: { days: "7" }, headers: { host: "h" } },
      { region: "eu", notif_up: ["a@b.c"], inline: true },
    );
    expect(Object.keys(out)).toEqual(["region", "notif_up", "inline", "params", "body", "headers", "days"]);
    expect(out).toEqual({
      region: "eu",
      notif_up: ["a@b.c"],
      inline: true,
      params: { days: "7" },
      body: {},
      headers: { host: "h" },
      days: 7n,
    });
  });

  it("coerces query and form strings to the defaults' types; unknown names stay strings", () => {
    const out = build({
      query: { days: "7", rate: "2", flag: "on", other: "5" },
      body: { kind: "form", fields: { items: '[1, 2.5, "a"]', name: "9" } },
    });
    expect(out).toMatchObject({
      days: 7n,
      rate: 2,
      flag: true,
      items: [1n, 2.5, "a"],
      name: "9",
      other: "5",
    });
  });

  it("throws a parameter-invalid error naming the parameter and the expected type", () => {
    expect(() => build({ query: { days: "soon" } })).toThrow(AppError);
    expect(() => build({ query: { days: "soon" } })).toThrow(
      /parameter "days" expects int \(default 3\); got "soon"/,
    );
    expect(() => build({ body: { kind: "form", fields: { items: "nope" } } })).toThrow(
      /"items" expects list \(as JSON\)/,
    );
  });

  it("lets a JSON body win over the query, keeping JSON types uncoerced", () => {
    const out = build({
      query: { days: "1", rate: "4" },
      body: { kind: "json", value: { days: 2.5, name: 3n } },
    });
    expect(out).toMatchObject({
      days: 2.5,
      rate: 4,
      name: 3n,
      params: { days: "1", rate: "4" },
      body: { days: 2.5, name: 3n },
    });
  });

  it("keeps a non-object JSON body as body only", () => {
    const out = build({ body: { kind: "json", value: [1n, 2n] } });
    expect(out.body).toEqual([1n, 2n]);
    expect(Object.keys(out)).toEqual(["params", "body", "headers"]);
  });

  it("never lets a request key replace add-time params or params/body/headers", () => {
    const out = build(
      {
        query: { region: "us", params: "x", headers: "y" },
        body: { kind: "json", value: { body: "z", region: "us" } },
      },
      { region: "eu" },
    );
    expect(out).toMatchObject({
      region: "eu",
      params: { region: "us", params: "x", headers: "y" },
      body: { body: "z", region: "us" },
      headers: {},
    });
  });

  it("skips keys that are not identifiers of the language, keywords and dunder names", () => {
    const out = build({ query: { "bad-key": "1", class: "2", __builtins__: "3", ok_name: "4", "2x": "5" } });
    expect(Object.keys(out)).toEqual(["params", "body", "headers", "ok_name"]);
    expect(out.params).toMatchObject({ "bad-key": "1", class: "2" });
    const ts = build({ query: { $el: "1", let: "2" } }, {}, "typescript");
    expect(Object.keys(ts)).toEqual(["params", "body", "headers", "$el"]);
  });

  it("passes multipart files as paths, uncoerced, and fields coerced", () => {
    const body: RequestBody = {
      kind: "multipart",
      fields: { days: "4" },
      files: { days2: "/u/a.csv", many: ["/u/1", "/u/2"] },
    };
    const out = build({ body });
    expect(out).toMatchObject({
      days: 4n,
      days2: "/u/a.csv",
      many: ["/u/1", "/u/2"],
      body: { days: "4", days2: "/u/a.csv", many: ["/u/1", "/u/2"] },
    });
  });

  it("gives other bodies as Naas's {str}", () => {
    expect(build({ body: { kind: "text", text: "hi" } }).body).toEqual({ str: "hi" });
  });

  it("keeps a __proto__ key as data", () => {
    const out = build({
      body: { kind: "json", value: JSON.parse('{"__proto__": {"polluted": 1}}') as never },
    });
    expect(Object.getPrototypeOf(out.body)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("secrets", () => {
  it("recognizes secret-looking names in any case", () => {
    for (const name of [
      "password",
      "DB_PASSWORD",
      "passwd",
      "pwd",
      "client_secret",
      "token",
      "accessToken",
      "api_key",
      "X-Api-Key",
      "apikey",
      "Authorization",
      "proxy-authorization",
      "cookie",
      "Set-Cookie",
      "session_id",
      "x-auth-token",
      "credentials",
      "X-Hub-Signature",
      "private_key",
    ]) {
      expect(isSecretName(name), name).toBe(true);
    }
    for (const name of ["author", "authored_by", "user", "days", "compass", "content-type", "keyword"]) {
      expect(isSecretName(name), name).toBe(false);
    }
  });

  it("redacts values under secret keys at any depth, empty ones excepted", () => {
    const value = {
      user: "bob",
      password: "pw",
      blank_token: "",
      nested: [{ api_key: { a: 1n } }],
      headers: { authorization: "Bearer x" },
    };
    expect(redactParameters(value)).toEqual({
      user: "bob",
      password: "<redacted>",
      blank_token: "",
      nested: [{ api_key: "<redacted>" }],
      headers: { authorization: "<redacted>" },
    });
  });

  it("redacts secret headers for the kernel and keeps the others", () => {
    expect(
      kernelHeaders({ authorization: "Bearer x", cookie: "a=b", "x-api-key": "k", "user-agent": "curl" }),
    ).toEqual({
      authorization: "<redacted>",
      cookie: "<redacted>",
      "x-api-key": "<redacted>",
      "user-agent": "curl",
    });
  });
});

describe("buildWebhookParameters limits", () => {
  const nines = (digits: number) => "9".repeat(digits);

  it("refuses a query int of more than 4300 digits for Python, naming it, coerced to the default's type", () => {
    expect(build({ query: { days: nines(4300) } }).days).toBe(BigInt(nines(4300)));
    let err: unknown;
    try {
      build({ query: { days: nines(4301) } });
    } catch (caught) {
      err = caught;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("parameter-invalid");
    expect((err as AppError).message).toMatch(/^parameter "days" is an int of more than 4300 digits/);
    // TypeScript writes a BigInt literal: no limit of its own below the general one.
    const body: RequestBody = { kind: "json", value: { days: BigInt(nines(4301)) } };
    expect(build({ body }, {}, "typescript").days).toBe(BigInt(nines(4301)));
  });

  it("refuses a JSON body with too big an int or too deep a value, naming it under body", () => {
    const deep: ParamValue = JSON.parse("[".repeat(100) + "]".repeat(100)) as ParamValue;
    const json = (value: ParamValue): RequestBody => ({ kind: "json", value });
    expect(() => build({ body: json({ n: BigInt(nines(4301)) }) })).toThrow(/^parameter "body\.n" is an int/);
    expect(() => build({ body: json({ deep }) })).toThrow(/^parameter "body\.deep" is nested more than 100/);
    expect(() => build({ body: json({ deep }) }, {}, "typescript")).toThrow(/"body\.deep" is nested/);
  });
});

/**
 * The SDK's HTTP exchange against a small real HTTP server (node:http on loopback) answering
 * canned replies: what is sent, how errors and odd replies are reported, and the debug log.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { NbhookApiError, NbhookResponseError } from "./errors.js";
import { redactWebhookTokens } from "./redact.js";
import { retryAfterSeconds, Transport } from "./transport.js";

interface Seen {
  method?: string;
  url?: string;
  authorization?: string;
  contentType?: string;
  body: string;
}
let seen: Seen = { body: "" };
let reply: { status: number; type: string; body: string } = {
  status: 200,
  type: "application/json",
  body: "{}",
};
let server: http.Server;
let base = "";

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen = {
        method: req.method,
        url: req.url,
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
        body: Buffer.concat(chunks).toString("utf8"),
      };
      res.writeHead(reply.status, { "content-type": reply.type }).end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("Transport", () => {
  it("sends the bearer token, the query and a JSON body (bigints as numbers), and checks the reply", async () => {
    reply = { status: 200, type: "application/json", body: '{"ok": true, "extra": 1}' };
    const t = new Transport({ url: base + "/", token: "tok" });
    const answer = await t.json("POST", "/api/x", z.object({ ok: z.boolean() }), {
      query: { path: "/a b", skip: undefined },
      body: { n: 3n },
    });
    expect(answer).toEqual({ ok: true });
    expect(seen).toEqual({
      method: "POST",
      url: "/api/x?path=%2Fa+b",
      authorization: "Bearer tok",
      contentType: "application/json",
      body: '{"n":3}',
    });
  });

  it("sends no content type without a body (fastify refuses an empty JSON body)", async () => {
    reply = { status: 200, type: "application/json", body: "{}" };
    await new Transport({ url: base }).send("DELETE", "/api/x");
    expect(seen.contentType).toBeUndefined();
    expect(seen.authorization).toBeUndefined();
  });

  it("turns error answers into NbhookApiError with the server's code and message", async () => {
    reply = { status: 409, type: "application/json", body: '{"error": "conflict", "message": "it is live"}' };
    await expect(new Transport({ url: base }).send("GET", "/api/x")).rejects.toEqual(
      new NbhookApiError(409, "conflict", "it is live", {
        body: { error: "conflict", message: "it is live" },
      }),
    );
    reply = {
      status: 404,
      type: "application/json",
      body: '{"message": "Route GET:/api/y not found", "statusCode": 404}',
    };
    const err = await new Transport({ url: base }).send("GET", "/api/y").catch((e: unknown) => e);
    expect(err).toMatchObject({
      status: 404,
      code: "http-404",
      message: "GET /api/y: HTTP 404: Route GET:/api/y not found",
    });
  });

  it("reports replies it cannot read as NbhookResponseError", async () => {
    reply = { status: 200, type: "text/html", body: "<html>proxy</html>" };
    await expect(new Transport({ url: base }).json("GET", "/api/x", z.object({}))).rejects.toThrow(
      NbhookResponseError,
    );
    reply = { status: 200, type: "application/json", body: '{"webhooks": 3}' };
    await expect(
      new Transport({ url: base }).json("GET", "/api/x", z.object({ webhooks: z.array(z.string()) })),
    ).rejects.toThrow(/unexpected reply .*webhooks: .*same nbhook version/);
  });

  it("logs each request and reply when debugging, with webhook tokens masked", async () => {
    reply = { status: 201, type: "application/json", body: '{"url": "http://h/notebook/SECRET_token-1"}' };
    const lines: string[] = [];
    await new Transport({ url: base, token: "api-secret", debug: true, log: (l) => lines.push(l) }).send(
      "POST",
      "/api/x",
      { body: { a: 1 } },
    );
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`nbhook: > POST ${base}/api/x {"a":1}`);
    expect(lines[1]).toMatch(/^nbhook: < 201 Created in \d+ ms \{"url": "http:\/\/h\/notebook\/<token>"\}$/);
    expect(lines.join("\n")).not.toMatch(/SECRET|api-secret/);
  });
});

describe("redactWebhookTokens", () => {
  it("masks the token of every webhook URL and leaves other text alone", () => {
    expect(redactWebhookTokens("GET http://x/notebook/abc_DEF-123?city=Paris and /notebook/zz")).toBe(
      "GET http://x/notebook/<token>?city=Paris and /notebook/<token>",
    );
    expect(redactWebhookTokens("/api/webhooks/notebook")).toBe("/api/webhooks/notebook");
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(retryAfterSeconds("3")).toBe(3);
    expect(retryAfterSeconds(null)).toBeUndefined();
    expect(retryAfterSeconds("soon")).toBeUndefined();
    expect(retryAfterSeconds(new Date(Date.now() - 60_000).toUTCString())).toBe(0);
    expect(retryAfterSeconds(new Date(Date.now() + 120_000).toUTCString())).toBeGreaterThan(100);
  });
});

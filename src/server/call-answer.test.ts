import { describe, expect, it } from "vitest";
import type { NotebookResponse } from "../notebook/types.js";
import type { ExecutionStatus } from "../run-status.js";
import type { RunError, RunTimings } from "../runs/index.js";
import { DEFAULT_SETTINGS, type Webhook } from "../store/index.js";
import {
  ANSWER_CSP,
  answerFor,
  attachment,
  downloadName,
  redirectTarget,
  withCharset,
} from "./call-answer.js";

/** A run of report.v2.ipynb, ok unless said otherwise, with add-time `params`. */
interface Ran {
  status: ExecutionStatus;
  error?: RunError;
  response?: NotebookResponse;
  timings?: RunTimings;
  params: Record<string, unknown>;
}
const base: Ran = { status: "ok", params: {} };

function hook(params: Record<string, unknown>): Webhook {
  return {
    id: "w1",
    path: "/work/report.v2.ipynb",
    name: "/work/report.v2.ipynb",
    fileName: "report.v2.ipynb",
    sourceHost: null,
    token: "t".repeat(43),
    params,
    debug: false,
    timeoutMs: 1000,
    settings: DEFAULT_SETTINGS,
    createdAt: "2026-12-01T00:00:00.000Z",
    updatedAt: "2026-12-01T00:00:00.000Z",
    deletedAt: null,
    liveHisto: null,
    lastRunAt: null,
    lastRunStatus: null,
  };
}

function webhookAnswer({ params, ...ran }: Ran) {
  return answerFor({ kind: "ran", runId: "run-1", durationMs: 1234, ...ran }, hook(params));
}
const bodyOf = (answer: { body: Buffer }) => JSON.parse(answer.body.toString("utf8")) as unknown;

describe("answerFor", () => {
  it("answers 200 {id, status, time} without a response", () => {
    const answer = webhookAnswer(base);
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({
      "x-nbhook-run-id": "run-1",
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
    });
    expect(bodyOf(answer)).toEqual({ id: "run-1", status: "Done", time: 1.234 });
  });

  it("tells where the time went in Server-Timing when the run reports it", () => {
    const answer = webhookAnswer({ ...base, timings: { kernelMs: 3.14, cellsMs: 12.5 } });
    expect(answer.headers["server-timing"]).toBe("kernel;dur=3.1, cells;dur=12.5, run;dur=1234");
    expect(webhookAnswer(base).headers["server-timing"]).toBeUndefined();
  });

  it("answers failures as JSON: 500 error, 500 died, 504 timeout, traceback without ANSI", () => {
    const error = {
      ename: "ValueError",
      evalue: "\u001b[31mbad\u001b[0m",
      traceback: ["\u001b[0;31mValueError\u001b[0m: bad"],
    };
    expect(webhookAnswer({ ...base, status: "error", error }).status).toBe(500);
    expect(webhookAnswer({ ...base, status: "died", error }).status).toBe(500);
    const timeout = webhookAnswer({ ...base, status: "timeout", error });
    expect(timeout.status).toBe(504);
    expect(bodyOf(timeout)).toEqual({
      error: "timeout",
      message: expect.stringMatching(/^the run timed out \(bad\): give the webhook a longer time limit/),
      id: "run-1",
      status: "timeout",
      ename: "ValueError",
      evalue: "bad",
      traceback: ["ValueError: bad"],
    });
    expect(
      bodyOf(webhookAnswer({ ...base, status: "error", error: { ...error, cellIndex: 2 } })),
    ).toMatchObject({
      error: "run-failed",
      message: "the run failed in cell 3 of the executed notebook: ValueError: bad",
    });
    expect(bodyOf(webhookAnswer({ ...base, status: "died", error }))).toMatchObject({ error: "kernel-died" });
  });

  it("answers a call that left the queue 503 busy with Retry-After", () => {
    const webhook = hook({});
    const cancelled = {
      kind: "cancelled",
      runId: "run-1",
      message: "the server is busy",
      retryAfterS: 7,
    } as const;
    const busy = answerFor({ ...cancelled, reason: "queue-timeout" }, webhook);
    expect(busy.status).toBe(503);
    expect(busy.headers).toMatchObject({ "retry-after": "7", "x-nbhook-run-id": "run-1" });
    expect(bodyOf(busy)).toEqual({ error: "busy", message: "the server is busy: try again in 7 s" });
    expect(answerFor({ ...cancelled, reason: "caller-gone" }, webhook).status).toBe(499);
  });

  it("sends the response with charset, an attachment name, and the notebook's allowed headers", () => {
    const answer = webhookAnswer({
      ...base,
      response: {
        contentType: "text/csv",
        body: Buffer.from("a;b\n"),
        status: 201,
        headers: {
          "X-One": "1",
          "Set-Cookie": "a=b",
          "Content-Length": "9",
          Connection: "close",
          "X-Nbhook-Run-Id": "fake",
          "Bad Name": "x",
          "X-Bad": "a\nb",
          "Content-Security-Policy": "img-src 'self'",
        },
      },
    });
    expect(answer.status).toBe(201);
    expect(answer.headers).toEqual({
      "x-nbhook-run-id": "run-1",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      // The sandbox stays: the notebook's own policy is enforced beside it.
      "content-security-policy": `${ANSWER_CSP}, img-src 'self'`,
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": 'attachment; filename="report.csv"',
      "x-one": "1",
    });
    expect(answer.droppedHeaders).toEqual([
      "Set-Cookie",
      "Content-Length",
      "Connection",
      "X-Nbhook-Run-Id",
      "Bad Name",
      "X-Bad",
    ]);
  });

  it("leaves Content-Disposition out when inline is truthy, or for a non-2xx response", () => {
    const response = { contentType: "text/html", body: Buffer.from("<p>") };
    for (const inline of [true, "true", 1, "yes"]) {
      expect(
        webhookAnswer({ ...base, params: { inline }, response }).headers["content-disposition"],
      ).toBeUndefined();
    }
    for (const inline of [false, "false", 0, undefined]) {
      expect(webhookAnswer({ ...base, params: { inline }, response }).headers["content-disposition"]).toBe(
        'attachment; filename="report.html"',
      );
    }
    expect(
      webhookAnswer({ ...base, response: { ...response, status: 404 } }).headers["content-disposition"],
    ).toBeUndefined();
  });

  it("answers a respond_file answer as its file, to be streamed, with the notebook's headers", () => {
    const file = { path: "/srv/answers/nbhook-answer-a1/answer", size: 104_857_600 };
    const response = {
      contentType: "application/pdf",
      body: Buffer.alloc(0),
      file,
      filename: "r.pdf",
      headers: { "X-Kind": "blob", "Content-Length": "1" },
    };
    const answer = webhookAnswer({ ...base, response });
    expect(answer.status).toBe(200);
    expect(answer.file).toEqual(file);
    expect(answer.body.length).toBe(0);
    expect(answer.headers).toMatchObject({
      "content-type": "application/pdf",
      "content-disposition": 'attachment; filename="r.pdf"',
      "x-kind": "blob",
    });
    // The server frames the answer: the length comes from the file when it is sent.
    expect(answer.headers["content-length"]).toBeUndefined();
    expect(answer.droppedHeaders).toEqual(["Content-Length"]);
    const redirected = webhookAnswer({ ...base, params: { next_url: "https://example.com/" }, response });
    expect([redirected.status, redirected.file]).toEqual([302, undefined]);
  });

  it("redirects to next_url after a successful run only, and only to absolute http(s) URLs", () => {
    const response = { contentType: "text/plain", body: Buffer.from("x") };
    const ok = webhookAnswer({ ...base, params: { next_url: "https://example.com/a?b=1" }, response });
    expect(ok.status).toBe(302);
    expect(ok.headers.location).toBe("https://example.com/a?b=1");
    expect(ok.body.length).toBe(0);
    expect(
      webhookAnswer({ ...base, status: "error", params: { next_url: "https://example.com/" } }).status,
    ).toBe(500);
    expect(webhookAnswer({ ...base, params: { next_url: "javascript:alert(1)" }, response }).status).toBe(
      200,
    );
  });
});

describe("pieces", () => {
  it("adds charset=utf-8 to text types only, and only when none is given", () => {
    expect(withCharset("text/plain")).toBe("text/plain; charset=utf-8");
    expect(withCharset("application/json")).toBe("application/json; charset=utf-8");
    expect(withCharset("image/svg+xml")).toBe("image/svg+xml; charset=utf-8");
    expect(withCharset("application/ld+json")).toBe("application/ld+json; charset=utf-8");
    expect(withCharset("text/html; charset=iso-8859-1")).toBe("text/html; charset=iso-8859-1");
    expect(withCharset("image/png")).toBe("image/png");
    expect(withCharset("application/octet-stream")).toBe("application/octet-stream");
  });

  it("names downloads after the notebook up to its first dot, with the type's extension", () => {
    const cases: [string, string][] = [
      ["application/json", "report.json"],
      ["text/html; charset=utf-8", "report.html"],
      ["text/plain", "report.txt"],
      ["text/csv", "report.csv"],
      ["image/svg+xml", "report.svg"],
      ["image/png", "report.png"],
      ["image/jpeg", "report.jpg"],
      ["image/gif", "report.gif"],
      ["text/markdown", "report.md"],
      ["application/pdf", "report.bin"],
    ];
    for (const [contentType, name] of cases)
      expect(downloadName({ contentType }, "report.v2.ipynb")).toBe(name);
    expect(downloadName({ contentType: "text/csv", filename: "data.csv" }, "report.ipynb")).toBe("data.csv");
  });

  it("writes RFC 6266 filename* for names that are not plain ASCII", () => {
    expect(attachment("a b.txt")).toBe('attachment; filename="a b.txt"');
    expect(attachment('quote"back\\.txt')).toBe(
      `attachment; filename="quote_back_.txt"; filename*=UTF-8''quote%22back%5C.txt`,
    );
    expect(attachment("東京 (1).csv")).toBe(
      `attachment; filename="__ (1).csv"; filename*=UTF-8''%E6%9D%B1%E4%BA%AC%20%281%29.csv`,
    );
  });

  it("accepts only absolute http and https redirect targets", () => {
    expect(redirectTarget("http://x.example/")).toBe("http://x.example/");
    expect(redirectTarget("/relative")).toBeUndefined();
    expect(redirectTarget("ftp://x.example/")).toBeUndefined();
    expect(redirectTarget(42)).toBeUndefined();
  });
});

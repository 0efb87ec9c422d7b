import { describe, expect, it } from "vitest";
import { composeMessage, Notifier, recipients, recipientsFor, type RunNotice } from "./notify.js";
import type { RunLogger } from "./types.js";

const notice: RunNotice = {
  notebook: "report.ipynb",
  path: "/work/report.ipynb",
  runId: "run-1",
  status: "ok",
  durationMs: 2345,
  outputUrl: "http://127.0.0.1:5000/api/runs/run-1/output",
  runPageUrl: "http://127.0.0.1:5000/runs/run-1",
};

describe("recipients", () => {
  it("reads an address, a comma-separated string or a list, ignoring blanks and non-strings", () => {
    expect(recipients("a@x.org")).toEqual(["a@x.org"]);
    expect(recipients(" a@x.org, b@x.org ,")).toEqual(["a@x.org", "b@x.org"]);
    expect(recipients(["a@x.org", "", 3, "b@x.org,c@x.org"])).toEqual(["a@x.org", "b@x.org", "c@x.org"]);
    expect(recipients(undefined)).toEqual([]);
  });

  it("takes notif_up for a success and notif_down for any failure", () => {
    const params = { notif_up: ["up@x.org"], notif_down: "down@x.org" };
    expect(recipientsFor(params, "ok")).toEqual(["up@x.org"]);
    for (const status of ["error", "timeout", "died"] as const)
      expect(recipientsFor(params, status)).toEqual(["down@x.org"]);
  });
});

describe("composeMessage", () => {
  it("names the notebook and the outcome, with the duration, the run's page and the output link", () => {
    const message = composeMessage(notice);
    expect(message.subject).toBe("nbhook: report.ipynb succeeded");
    expect(message.text).toContain("Duration: 2.3 s");
    expect(message.text).toContain("The run: http://127.0.0.1:5000/runs/run-1");
    expect(message.text).toContain(
      "Output notebook (.ipynb, API): http://127.0.0.1:5000/api/runs/run-1/output",
    );
    expect(message.html).toContain('<a href="http://127.0.0.1:5000/runs/run-1">Open the run</a>');
  });

  it("gives a failure's error name in the subject and its ANSI-free traceback in the body, HTML-escaped", () => {
    const message = composeMessage({
      ...notice,
      status: "error",
      error: {
        ename: "ValueError",
        evalue: "bad <input>",
        traceback: ["\u001b[0;31mValueError\u001b[0m: bad <input>"],
      },
    });
    expect(message.subject).toBe("nbhook: report.ipynb failed (ValueError)");
    expect(message.text).toContain("Error: ValueError: bad <input>\n\nValueError: bad <input>");
    expect(message.html).toContain("bad &#60;input&#62;");
    expect(message.html).not.toContain("<input>");
  });
});

describe("Notifier without SMTP settings", () => {
  it("logs what it would have sent, and nothing when there is nobody to send to", async () => {
    const lines: [object, string | undefined][] = [];
    const logger: RunLogger = {
      info: (o, m) => lines.push([o, m]),
      warn: () => undefined,
      error: () => undefined,
    };
    const notifier = new Notifier(undefined, logger);
    notifier.send([], notice);
    notifier.send(["a@x.org"], notice);
    await notifier.close();
    expect(lines).toHaveLength(1);
    expect(lines[0]![0]).toEqual({
      run: "run-1",
      to: ["a@x.org"],
      subject: "nbhook: report.ipynb succeeded",
    });
    expect(lines[0]![1]).toMatch(/would have been sent/);
  });
});

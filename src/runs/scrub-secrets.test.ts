import { describe, expect, it } from "vitest";
import type { Notebook, Parameters } from "../notebook/types.js";
import {
  scrubSecretText,
  scrubSecretValues,
  scrubSecrets,
  secretTexts,
  secretValueTexts,
} from "./scrub-secrets.js";
import { redactParameters } from "./webhook-parameters.js";

function notebookWith(outputs: unknown[][]): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: outputs.map((out, i) => ({
      cell_type: "code",
      source: "",
      metadata: i === 0 ? { tags: ["injected-parameters"] } : {},
      outputs: out,
      execution_count: null,
    })),
  } as unknown as Notebook;
}

const parameters: Parameters = {
  body: { password: "SECRET444", user: "ann", nested: { api_key: "a\\b-key" } },
  pwd: 7n,
  token: 12345n,
  name: "world",
};

describe("secretTexts", () => {
  it("finds each value the redaction hides, as it is and as it reads inside a literal", () => {
    const secrets = secretTexts(parameters, redactParameters(parameters), "python");
    expect(secrets).toEqual(expect.arrayContaining(["SECRET444", "a\\b-key", "a\\\\b-key", "12345"]));
    expect(secrets).not.toContain("ann");
    expect(secrets).not.toContain("world");
    expect(secretTexts({ pwd: 7n }, { pwd: "<redacted>" }, "python")).toEqual(["7"]);
  });
});

describe("scrubSecrets", () => {
  it("replaces secrets in tracebacks, streams and data, and in the run's error", () => {
    const traceback = [
      "  Cell In[1], line 1",
      "    body = {'password': 'SECRET444', 'k': 'a\\\\b-key'}",
      "SyntaxError",
    ];
    const nb = notebookWith([
      [{ output_type: "error", ename: "SyntaxError", evalue: "bad 7", traceback }],
      [
        { output_type: "stream", name: "stdout", text: "the key is a\\b-key; token 12345; line 7\n" },
        { output_type: "display_data", data: { "text/plain": ["SECRET444", " and more"] }, metadata: {} },
      ],
    ]);
    const error = { ename: "SyntaxError", evalue: "bad 7", traceback: [...traceback], cellIndex: 0 };
    scrubSecrets(nb, error, secretTexts(parameters, redactParameters(parameters), "python"));
    const saved = JSON.stringify(nb) + JSON.stringify(error);
    expect(saved).not.toMatch(/SECRET444|b-key|12345/);
    expect(error.traceback[1]).toBe("    body = {'password': '<redacted>', 'k': '<redacted>'}");
    // A short secret is scrubbed in the injected cell only: elsewhere "7" stays a line number.
    expect(error.evalue).toBe("bad <redacted>");
    expect(JSON.stringify(nb.cells[1])).toContain("line 7");
  });

  it("changes nothing without secrets", () => {
    const nb = notebookWith([[{ output_type: "stream", name: "stdout", text: "world\n" }]]);
    const before = structuredClone(nb);
    scrubSecrets(nb, undefined, secretTexts({ name: "world" }, { name: "world" }, "python"));
    expect(nb).toEqual(before);
  });
});

describe("scrubSecretValues", () => {
  it("replaces stored secret values by *** in every cell and the error, as printed, repr'd, JSON- and HTML-escaped", () => {
    const value = `p4ss"wo'rd<&>`;
    const texts = secretValueTexts([value, "abc"], "python");
    expect(texts).not.toContain("abc"); // shorter than MIN_SCRUBBED: left alone
    const notebook = notebookWith([
      [{ output_type: "stream", name: "stdout", text: `the value ${value}\n` }],
      [
        { output_type: "stream", name: "stdout", text: `'p4ss"wo\\'rd<&>'\n` },
        {
          output_type: "display_data",
          data: { "text/html": "<b>p4ss&quot;wo&#x27;rd&lt;&amp;&gt;</b>" },
          metadata: {},
        },
        {
          output_type: "execute_result",
          data: { "application/json": { v: JSON.stringify(value) } },
          metadata: {},
        },
      ],
    ]);
    const error = {
      ename: "ValueError",
      evalue: `bad ${value}`,
      traceback: [`ValueError: bad ${value}`],
      cellIndex: 1,
    };
    scrubSecretValues(notebook, error, texts);
    const text = JSON.stringify(notebook);
    expect(text).not.toContain("p4ss");
    expect(text).toContain("the value ***");
    expect(text).toContain("<b>***</b>");
    expect(error).toMatchObject({ evalue: "bad ***", traceback: ["ValueError: bad ***"] });
    expect(scrubSecretText(`x ${value} y abc`, texts)).toBe("x *** y abc");
  });
});

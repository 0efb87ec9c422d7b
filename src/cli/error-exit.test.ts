import { describe, expect, it } from "vitest";
import { z } from "zod";
import { AppError } from "../errors.js";
import { describeZodError, exitCodeOf, userMessageOf } from "./error-exit.js";
import { EXIT } from "./exit-codes.js";

const zodError = (schema: z.ZodType, value: unknown): z.ZodError => {
  const parsed = schema.safeParse(value);
  if (parsed.success) throw new Error("expected the value not to fit");
  return parsed.error;
};

describe("exitCodeOf", () => {
  it("makes a value that does not fit its schema a usage error, exit 2", () => {
    expect(exitCodeOf(zodError(z.number(), "x"))).toBe(EXIT.usage);
  });

  it("keeps the other codes: not found 1, usage 2, timeout 3, and undefined for a bug", () => {
    expect(exitCodeOf(new AppError("not-found", "no such webhook"))).toBe(EXIT.notFound);
    expect(exitCodeOf(new AppError("usage", "bad flag"))).toBe(EXIT.usage);
    expect(exitCodeOf(new AppError("timeout", "too slow"))).toBe(EXIT.timeout);
    expect(exitCodeOf(new TypeError("x is undefined"))).toBeUndefined();
  });
});

describe("describeZodError", () => {
  it("names each field with its problem on one line, not as JSON", () => {
    const schema = z.object({
      port: z.number().max(65535),
      smtp: z.object({ from: z.string() }),
      tags: z.array(z.string()),
    });
    const text = describeZodError(zodError(schema, { port: 70000, smtp: {}, tags: ["a", 2] }));
    expect(text).toMatch(/^invalid values: port: .*65535.*; smtp\.from: .*; tags\[1\]: .*string/);
    expect(text).not.toContain("\n");
    expect(text).not.toContain('"code"');
  });

  it("says value for a problem with the whole value", () => {
    expect(describeZodError(zodError(z.number(), "x"))).toMatch(/^invalid value: value: /);
  });
});

describe("userMessageOf", () => {
  it("is the message of an error, and the field description of a schema error", () => {
    expect(userMessageOf(new AppError("usage", "--port must be a port number"))).toBe(
      "--port must be a port number",
    );
    expect(userMessageOf(zodError(z.object({ a: z.string() }), {}))).toMatch(/^invalid value: a: /);
  });
});

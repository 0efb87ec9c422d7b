import { describe, expect, it } from "vitest";
import { AppError } from "../../errors.js";
import { isValidName, nameProblem, validateName, variableName } from "./names.js";

describe("validateName", () => {
  it.each(["days", "_private", "x1", "été", "データ", "match", "case", "type", "_"])(
    "accepts %s in Python",
    (name) => {
      expect(isValidName("python", name)).toBe(true);
    },
  );

  it.each([
    ["1x", /not a Python identifier/],
    ["my-key", /not a Python identifier/],
    ["", /not a Python identifier/],
    ["a b", /not a Python identifier/],
    ["class", /reserved word/],
    ["None", /reserved word/],
    ["True", /reserved word/],
    ["await", /reserved word/],
    ["__debug__", /reserved word/],
    ["ﬁle", /NFKC/],
  ])("refuses %j in Python", (name, reason) => {
    expect(nameProblem("python", name)).toMatch(reason);
  });

  it("throws a parameter-invalid AppError naming the key", () => {
    let thrown: unknown;
    try {
      validateName("python", "for");
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).code).toBe("parameter-invalid");
    expect((thrown as AppError).message).toBe(
      'parameter "for" cannot be set in a python notebook: for is a reserved word in Python; rename it',
    );
  });

  it("checks R names after dropping leading underscores", () => {
    expect(variableName("r", "__x")).toBe("x");
    expect(isValidName("r", "_x")).toBe(true);
    expect(isValidName("r", "my.var")).toBe(true);
    expect(isValidName("r", ".hidden")).toBe(true);
    expect(isValidName("r", ".2x")).toBe(false);
    expect(isValidName("r", "if")).toBe(false);
    expect(isValidName("r", "..1")).toBe(false);
    expect(isValidName("r", "NA_real_")).toBe(false);
  });

  it("checks Julia names", () => {
    expect(isValidName("julia", "push!")).toBe(true);
    expect(isValidName("julia", "α")).toBe(true);
    expect(isValidName("julia", "__")).toBe(false);
    expect(isValidName("julia", "function")).toBe(false);
    expect(isValidName("julia", "1a")).toBe(false);
  });

  it("checks JavaScript and TypeScript names", () => {
    expect(isValidName("javascript", "$el")).toBe(true);
    expect(isValidName("typescript", "type")).toBe(true);
    expect(isValidName("javascript", "let")).toBe(false);
    expect(isValidName("typescript", "undefined")).toBe(false);
    expect(isValidName("javascript", "a-b")).toBe(false);
    expect(() => validateName("javascript", "arguments")).toThrow(/reserved word in JavaScript/);
  });
});

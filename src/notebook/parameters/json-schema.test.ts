import { describe, expect, it } from "vitest";
import { jsonDefault, parameterJsonSchema, parametersJsonSchema } from "./json-schema.js";
import { readSourceDefaults } from "./read-defaults.js";

describe("jsonDefault", () => {
  it("turns safe ints into JSON numbers and larger ones into their exact decimal text", () => {
    expect(jsonDefault(3n)).toBe(3);
    expect(jsonDefault(-9007199254740991n)).toBe(-9007199254740991);
    expect(jsonDefault(9007199254740992n)).toBe("9007199254740992");
    expect(jsonDefault(10n ** 30n)).toBe("1000000000000000000000000000000");
  });

  it("writes floats JSON cannot spell as null, as JSON.stringify does", () => {
    expect(jsonDefault(0.5)).toBe(0.5);
    expect(jsonDefault(Number.POSITIVE_INFINITY)).toBeNull();
    expect(jsonDefault(Number.NaN)).toBeNull();
  });

  it("converts ints nested in lists and dicts, keeping a __proto__ key as data", () => {
    const value = jsonDefault({ a: [1n, 2.5, "x", null, true], ["__proto__"]: { b: 2n } } as never);
    expect(JSON.stringify(value)).toBe('{"a":[1,2.5,"x",null,true],"__proto__":{"b":2}}');
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });
});

describe("parameterJsonSchema", () => {
  it("gives each parameter type its JSON Schema type and default", () => {
    const got = readSourceDefaults(
      'n = 3\nrate = 0.5\nok = True\nname = "Ada"\nitems = [1, 2]\nopts = {"a": 1}\nnothing = None\n',
      "python",
    ).map(parameterJsonSchema);
    expect(got).toEqual([
      { type: "integer", default: 3 },
      { type: "number", default: 0.5 },
      { type: "boolean", default: true },
      { type: "string", default: "Ada" },
      { type: "array", default: [1, 2] },
      { type: "object", default: { a: 1 } },
      { default: null },
    ]);
  });

  it("allows null when an annotated parameter defaults to None, and carries the line's comment", () => {
    const [limit, days] = readSourceDefaults(
      "limit: Optional[int] = None\ndays: int = 1  # how far back",
      "python",
    );
    expect(parameterJsonSchema(limit!)).toEqual({ type: ["integer", "null"], default: null });
    expect(parameterJsonSchema(days!)).toEqual({ type: "integer", default: 1, description: "how far back" });
  });

  it("leaves out the type and the default when nbhook cannot tell them", () => {
    expect(parameterJsonSchema({ name: "when", type: "unknown" })).toEqual({});
    expect(parameterJsonSchema({ name: "n", type: "int", annotation: "int" })).toEqual({ type: "integer" });
  });
});

describe("parametersJsonSchema", () => {
  it("is a draft 2020-12 object schema with one optional property per parameter, others allowed", () => {
    const schema = parametersJsonSchema(readSourceDefaults("days = 3\ncity = 'Paris'", "python"));
    expect(schema).toEqual({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: { days: { type: "integer", default: 3 }, city: { type: "string", default: "Paris" } },
      additionalProperties: true,
    });
  });

  it("is an empty object schema without parameters", () => {
    expect(parametersJsonSchema([])).toMatchObject({ type: "object", properties: {} });
  });
});

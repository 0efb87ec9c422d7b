import { describe, expect, it } from "vitest";
import {
  BigInteger,
  fieldText,
  initialText,
  jsonBody,
  parseField,
  readForm,
  type FieldSpec,
} from "./param-form.js";

const field = (name: string, type: FieldSpec["type"], value?: unknown): FieldSpec =>
  value === undefined ? { name, type } : { name, type, default: value };

describe("the Try form's fields", () => {
  it("start from the notebook's defaults", () => {
    expect(initialText(field("name", "str", "world"))).toBe("world");
    expect(initialText(field("times", "int", 2))).toBe("2");
    expect(initialText(field("loud", "bool", false))).toBe("false");
    expect(initialText(field("tags", "list", ["a", 1]))).toBe('["a",1]');
    expect(initialText(field("options", "dict", { k: 1 }))).toBe('{"k":1}');
    expect(initialText(field("x", "unknown"))).toBe("");
    // A big int default comes as its decimal text: shown as it is.
    expect(initialText(field("big", "int", "123456789012345678901234567890"))).toBe(
      "123456789012345678901234567890",
    );
  });

  it("type each value as its default, or say what is wrong", () => {
    expect(parseField(field("times", "int"), " 3 ")).toEqual({ value: 3 });
    expect(parseField(field("times", "int"), "three")).toEqual({
      error: "must be a whole number, such as 42",
    });
    expect(parseField(field("times", "int"), "1.5")).toHaveProperty("error");
    expect(parseField(field("times", "int"), "99999999999999999999")).toEqual({
      value: new BigInteger("99999999999999999999"),
    });
    expect(parseField(field("ratio", "float"), "2")).toEqual({ value: 2 });
    expect(parseField(field("ratio", "float"), "abc")).toHaveProperty("error");
    expect(parseField(field("loud", "bool"), "true")).toEqual({ value: true });
    expect(parseField(field("loud", "bool"), "No")).toEqual({ value: false });
    expect(parseField(field("loud", "bool"), "maybe")).toHaveProperty("error");
    expect(parseField(field("tags", "list"), '["x", 2]')).toEqual({ value: ["x", 2] });
    expect(parseField(field("tags", "list"), '{"a": 1}')).toEqual({ error: "must be a JSON list" });
    expect(parseField(field("opts", "dict"), "[1]")).toEqual({ error: "must be a JSON object" });
    expect(parseField(field("opts", "dict"), "{nope")).toHaveProperty("error");
    expect(parseField(field("name", "str"), "")).toEqual({ value: "" }); // an empty string is a value
    expect(parseField(field("times", "int"), "")).toEqual({ omit: true }); // the notebook's default then
    expect(parseField(field("x", "unknown"), "[1, 2]")).toEqual({ value: [1, 2] });
    expect(parseField(field("x", "unknown"), "plain words")).toEqual({ value: "plain words" });
  });

  it("read the whole form, with more parameters as a JSON object", () => {
    const fields = [field("name", "str", "world"), field("times", "int", 2), field("ratio", "float", 0.5)];
    expect(readForm(fields, { times: "4" }, '{"extra": [1]}')).toEqual({
      values: { extra: [1], name: "world", times: 4, ratio: 0.5 },
      errors: {},
    });
    expect(readForm(fields, { times: "x" }, "[1]").errors).toEqual({
      "(more parameters)": 'must be a JSON object, such as {"name": "value"}',
      times: "must be a whole number, such as 42",
    });
  });

  it("write a whole float as 3.0 in the JSON body, so that it stays a float", () => {
    const fields = [field("ratio", "float"), field("times", "int")];
    const body = jsonBody({ ratio: 3, times: 3, name: 'a"b' }, fields);
    expect(body).toBe('{"ratio":3.0,"times":3,"name":"a\\"b"}');
    expect(JSON.parse(body)).toEqual({ ratio: 3, times: 3, name: 'a"b' });
    expect(jsonBody({ ratio: 2.5 }, fields)).toBe('{"ratio":2.5}');
    expect(jsonBody({ ratio: 1e17 }, fields)).toBe('{"ratio":100000000000000000.0}');
    expect(jsonBody({ ratio: 1e21 }, fields)).toBe('{"ratio":1e+21}');
    // A big int default, left as it was: every digit goes.
    const big = [field("big", "int", "123456789012345678901234567890")];
    const form = readForm(big, {});
    expect(form.errors).toEqual({});
    expect(jsonBody(form.values, big)).toBe('{"big":123456789012345678901234567890}');
  });

  it("write multipart values as text the server coerces", () => {
    expect(fieldText("Ada")).toBe("Ada");
    expect(fieldText(true)).toBe("true");
    expect(fieldText(3)).toBe("3");
    expect(fieldText(["a"])).toBe('["a"]');
    expect(fieldText(new BigInteger("123456789012345678901"))).toBe("123456789012345678901");
  });
});

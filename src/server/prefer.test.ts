import { describe, expect, it } from "vitest";
import { MAX_WAIT_S, parsePrefer } from "./prefer.js";

describe("parsePrefer", () => {
  it("reads no preference as an ordinary call", () => {
    expect(parsePrefer(undefined)).toEqual({});
    expect(parsePrefer("return=minimal, handling=lenient")).toEqual({});
  });

  it("reads respond-async as an answer at once", () => {
    expect(parsePrefer("respond-async")).toEqual({ waitMs: 0 });
    expect(parsePrefer("Respond-Async; foo=bar")).toEqual({ waitMs: 0 });
  });

  it("reads wait=N, with or without respond-async, as waiting up to N seconds", () => {
    expect(parsePrefer("wait=10")).toEqual({ waitMs: 10_000 });
    expect(parsePrefer("respond-async, wait=3")).toEqual({ waitMs: 3000 });
    expect(parsePrefer(["handling=strict", 'wait="2"'])).toEqual({ waitMs: 2000 });
    expect(parsePrefer(" wait = 0 ")).toEqual({ waitMs: 0 });
  });

  it("caps a long wait and ignores malformed ones", () => {
    expect(parsePrefer("wait=99999999")).toEqual({ waitMs: MAX_WAIT_S * 1000 });
    expect(parsePrefer("wait=-1")).toEqual({});
    expect(parsePrefer("wait=1.5, respond-async")).toEqual({ waitMs: 0 });
    expect(parsePrefer("wait")).toEqual({});
  });
});

/**
 * nativeModuleProblem on the errors the loaders really throw (messages copied from failed loads:
 * better-sqlite3's `bindings` after an install with --ignore-scripts, zeromq's cmake-ts loader
 * without its build folder, node's dlopen of a module built for another Node).
 */
import { describe, expect, it } from "vitest";
import { nativeModuleProblem } from "./native-modules.js";

describe("nativeModuleProblem", () => {
  it("names better-sqlite3 and the rebuild when its bindings file is missing", () => {
    const err = new Error(
      "Could not locate the bindings file. Tried:\n → /app/node_modules/better-sqlite3/build/better_sqlite3.node\n → /app/node_modules/better-sqlite3/build/Release/better_sqlite3.node",
    );
    const problem = nativeModuleProblem(err);
    expect(problem).toMatch(
      /^the native module of better-sqlite3 \(needed for the embedded SQLite store\) cannot be loaded: Could not locate the bindings file\. Fix: build it with `npm rebuild better-sqlite3`/,
    );
  });

  it("names zeromq when its addon cannot be loaded, through an error's cause too", () => {
    const load = new Error(
      "Failed to load zeromq.js addon.node: Error: Manifest file not found at /app/node_modules/zeromq/build/manifest.json",
    );
    expect(nativeModuleProblem(new Error("starting the kernel failed", { cause: load }))).toContain(
      "npm rebuild zeromq",
    );
  });

  it("knows a module built for another Node version", () => {
    const err = Object.assign(
      new Error(
        "The module '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node'\nwas compiled against a different Node.js version using\nNODE_MODULE_VERSION 127. This version of Node.js requires\nNODE_MODULE_VERSION 115.",
      ),
      { code: "ERR_DLOPEN_FAILED" },
    );
    expect(nativeModuleProblem(err)).toMatch(
      /^the native module of better-sqlite3 .*: The module '.*better_sqlite3\.node' was compiled against a different Node\.js version using NODE_MODULE_VERSION 127\. This version of Node\.js requires NODE_MODULE_VERSION 115\. Fix:/,
    );
  });

  it("leaves other errors alone", () => {
    expect(
      nativeModuleProblem(new Error("ENOENT: no such file or directory, open 'x.ipynb'")),
    ).toBeUndefined();
    expect(nativeModuleProblem(new Error("Cannot find module 'better-sqlite3-helper'"))).toBeUndefined();
    expect(nativeModuleProblem("a string")).toBeUndefined();
  });
});

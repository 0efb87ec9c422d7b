#!/usr/bin/env node
/**
 * The `nbhook` executable (package.json "bin"). zeromq is loaded with the command (the kernels'
 * channels); when its native module cannot be loaded this says so, and how to fix it, in one line
 * instead of a stack trace. It is loaded here first, with require, because a failure inside the
 * ESM graph of main.ts would also surface as an unhandled rejection. main.ts does the same for a
 * native module loaded later (better-sqlite3, when a store opens).
 */
import { createRequire } from "node:module";
import { nativeModuleProblem } from "../native-modules.js";

let loaded = true;
try {
  createRequire(import.meta.url)("zeromq");
} catch (err) {
  const problem = nativeModuleProblem(err);
  if (!problem) throw err;
  process.stderr.write(`nbhook: ${problem}\n`);
  process.exitCode = 2;
  loaded = false;
}
if (loaded) await import("./main.js");

#!/usr/bin/env node
// Removes dist/ before `npm pack` / `npm publish` builds it again (package.json "prepack"), so the
// package holds only what the current sources compile to: no file left over from a renamed or
// deleted module, no test compiled by an older configuration.
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
rmSync(path.join(root, "dist"), { recursive: true, force: true });

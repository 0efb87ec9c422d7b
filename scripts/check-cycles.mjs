#!/usr/bin/env node
/**
 * Fails (exit 1) when the TypeScript files under the given folders (default: src) import each other
 * in a cycle, and prints each cycle as a chain of files with the line of each import.
 *
 * Type-only imports count: `import type`, `import { type X }` and `export type … from` make a cycle
 * as much as value imports do, because the folder layering they break is the same. (This is why it
 * is not eslint-plugin-import-x's `no-cycle`, which skips type-only imports.) Only relative
 * specifiers are followed, `./x.js` meaning `./x.ts` (NodeNext); `import()` expressions are not
 * followed, being the usual way to load a module lazily on purpose.
 *
 * Usage: node scripts/check-cycles.mjs [folder...]
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

const roots = process.argv.length > 2 ? process.argv.slice(2) : ["src"];
for (const root of roots) {
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    process.stderr.write(`check-cycles: no folder ${root}\n`);
    process.exit(2);
  }
}
const files = roots.flatMap((root) => tsFilesUnder(path.resolve(root))).sort();
const known = new Set(files);

/** file → its imports of other known files: { to, line, typeOnly } */
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const cycles = findCycles(graph);

for (const cycle of cycles) {
  const chain = cycle.map((edge) => `${rel(edge.from)}:${edge.line}${edge.typeOnly ? " (type)" : ""}`);
  process.stdout.write(`import cycle: ${chain.join(" → ")} → ${rel(cycle[0].from)}\n`);
}
if (cycles.length > 0) {
  process.stdout.write(
    `check-cycles: ${cycles.length} import cycle${cycles.length > 1 ? "s" : ""} among ${files.length} files ` +
      `(each file:line imports the next; "(type)" marks a type-only import). ` +
      `Move the shared declarations into a file both can import, e.g. the folder's types.ts.\n`,
  );
  process.exitCode = 1;
} else {
  process.stdout.write(`check-cycles: no import cycles among ${files.length} files in ${roots.join(", ")}\n`);
}

function tsFilesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : tsFilesUnder(full);
    return /\.[cm]?ts$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [full] : [];
  });
}

function importsOf(file) {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false);
  const edges = [];
  for (const statement of source.statements) {
    const found = moduleReference(statement);
    if (!found || !ts.isStringLiteral(found.specifier)) continue;
    const to = resolveRelative(file, found.specifier.text);
    if (to === undefined) continue;
    const line = source.getLineAndCharacterOfPosition(statement.getStart(source)).line + 1;
    edges.push({ from: file, to, line, typeOnly: found.typeOnly });
  }
  return edges;
}

/** The module an import/export statement refers to, and whether it only brings in types. */
function moduleReference(statement) {
  if (ts.isImportDeclaration(statement)) {
    const clause = statement.importClause;
    const bindings = clause?.namedBindings;
    const allInlineTypes =
      clause !== undefined &&
      clause.name === undefined &&
      bindings !== undefined &&
      ts.isNamedImports(bindings) &&
      bindings.elements.length > 0 &&
      bindings.elements.every((element) => element.isTypeOnly);
    return { specifier: statement.moduleSpecifier, typeOnly: Boolean(clause?.isTypeOnly) || allInlineTypes };
  }
  if (ts.isExportDeclaration(statement) && statement.moduleSpecifier) {
    const clause = statement.exportClause;
    const allInlineTypes =
      clause !== undefined &&
      ts.isNamedExports(clause) &&
      clause.elements.length > 0 &&
      clause.elements.every((element) => element.isTypeOnly);
    return { specifier: statement.moduleSpecifier, typeOnly: statement.isTypeOnly || allInlineTypes };
  }
  if (ts.isImportEqualsDeclaration(statement) && ts.isExternalModuleReference(statement.moduleReference)) {
    return { specifier: statement.moduleReference.expression, typeOnly: statement.isTypeOnly };
  }
  return undefined;
}

/** `./x.js` → `<dir>/x.ts` (NodeNext: the specifier names the emitted file), when that file is ours. */
function resolveRelative(from, specifier) {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  const target = path.resolve(path.dirname(from), specifier);
  const candidates = [
    target
      .replace(/\.js$/, ".ts")
      .replace(/\.mjs$/, ".mts")
      .replace(/\.cjs$/, ".cts"),
    target,
    `${target}.ts`,
    path.join(target, "index.ts"),
  ];
  return candidates.find((candidate) => known.has(candidate) && statSync(candidate).isFile());
}

/**
 * One shortest cycle through each file that is on a cycle (Tarjan's strongly connected components,
 * then a breadth-first search inside each), without printing the same cycle twice.
 */
function findCycles(graph) {
  const cycles = [];
  const seen = new Set();
  for (const component of stronglyConnected(graph)) {
    const members = new Set(component);
    for (const start of component) {
      const found = shortestCycle(graph, start, members);
      if (!found) continue;
      const cycle = rotateToFirstFile(found);
      const key = cycle.map((edge) => edge.from).join("\n");
      if (seen.has(key)) continue;
      seen.add(key);
      cycles.push(cycle);
    }
  }
  return cycles;
}

function stronglyConnected(graph) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const visit = (node) => {
    index.set(node, next);
    low.set(node, next);
    next++;
    stack.push(node);
    onStack.add(node);
    for (const { to } of graph.get(node)) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node), low.get(to)));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node), index.get(to)));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    const selfLoop = graph.get(node).some((edge) => edge.to === node);
    if (component.length > 1 || selfLoop) components.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return components;
}

/** The edges of a shortest path from `start` back to itself, staying inside `members`. */
function shortestCycle(graph, start, members) {
  const via = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const edge of graph.get(node)) {
      if (!members.has(edge.to)) continue;
      if (edge.to === start) {
        const path = [edge];
        for (let at = node; at !== start; at = via.get(at).from) path.unshift(via.get(at));
        return path;
      }
      if (!via.has(edge.to)) {
        via.set(edge.to, edge);
        queue.push(edge.to);
      }
    }
  }
  return undefined;
}

/** The cycle starting at its first file by name, so the same cycle found from any file reads the same. */
function rotateToFirstFile(cycle) {
  const names = cycle.map((edge) => edge.from);
  const first = names.indexOf([...names].sort()[0]);
  return [...cycle.slice(first), ...cycle.slice(0, first)];
}

function rel(file) {
  return path.relative(process.cwd(), file);
}

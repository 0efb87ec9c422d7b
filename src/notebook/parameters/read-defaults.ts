/**
 * @module What the notebook's `parameters` cells define: each name with its type and, when it is a
 * literal, its default. The server uses it to coerce query-string and form values to the type of
 * the default (DESIGN.md, "Request → parameters").
 */
import type { Notebook, ParamLanguage } from "../types.js";
import { PARAMETERS_TAG, cellSourceText, hasTag } from "./cells.js";
import { readJsDefaults } from "./read-defaults-js.js";
import { readPythonDefaults } from "./read-defaults-python.js";
import { readJuliaDefaults, readRDefaults } from "./read-defaults-r-julia.js";
import type { ParameterDefault } from "./types.js";

/**
 * Parameter definitions from every code cell tagged `parameters`, in order; when several
 * definitions share a name the last one wins (it is what the kernel ends up with), keeping the
 * position of the first.
 */
export function readParameterDefaults(nb: Notebook, language: ParamLanguage): ParameterDefault[] {
  const byName = new Map<string, ParameterDefault>();
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code" || !hasTag(cell, PARAMETERS_TAG)) continue;
    for (const definition of readSourceDefaults(cellSourceText(cell), language)) {
      byName.set(definition.name, definition);
    }
  }
  return [...byName.values()];
}

/** Parameter definitions in one cell's source. */
export function readSourceDefaults(source: string, language: ParamLanguage): ParameterDefault[] {
  switch (language) {
    case "python":
      return readPythonDefaults(source);
    case "javascript":
    case "typescript":
      return readJsDefaults(source);
    case "r":
      return readRDefaults(source);
    case "julia":
      return readJuliaDefaults(source);
  }
}

/**
 * @module Putting the parameters cell into a notebook, where papermill 2.x puts it
 * (`parameterize_notebook`): it replaces the first cell tagged `injected-parameters`; else it goes
 * right after the first cell tagged `parameters` (of any cell type); else first.
 */
import { randomBytes } from "node:crypto";
import type { CodeCell, Notebook, ParamLanguage, Parameters } from "../types.js";
import { INJECTED_TAG, PARAMETERS_TAG, findFirstTaggedCellIndex } from "./cells.js";
import { toJsonValue } from "./param-values.js";
import { readParameterDefaults } from "./read-defaults.js";
import { translateParameters } from "./translators.js";

export interface InjectOptions {
  language: ParamLanguage;
  /** Text of the comment line that opens the cell. @default "Parameters" */
  comment?: string;
}

/**
 * A new notebook (the input is not changed) with a code cell tagged `injected-parameters` holding
 * the translated parameters, and the parameters recorded in `metadata.papermill.parameters` (ints
 * as JSON numbers; NaN and infinities as null). Notebooks at nbformat 4.5 or later give the cell a
 * fresh `id`; older ones cannot have cell ids. Unlike papermill, the notebook is not upgraded to
 * 4.5, and a notebook without parameters still gets the (empty) cell: callers skip the call when
 * there is nothing to inject.
 *
 * Throws AppError("parameter-invalid") for a name the language cannot use (see names.ts).
 */
export function injectParameters(nb: Notebook, params: Parameters, options: InjectOptions): Notebook {
  const { language, comment = "Parameters" } = options;
  const source = translateParameters(language, params, comment, { varNames: varDeclaredNames(nb, language) });
  const out = structuredClone(nb);
  const cell: CodeCell = {
    cell_type: "code",
    execution_count: null,
    metadata: { tags: [INJECTED_TAG] },
    outputs: [],
    source,
  };
  if (nb.nbformat > 4 || (nb.nbformat === 4 && nb.nbformat_minor >= 5)) {
    cell.id = newCellId(new Set(out.cells.map((c) => c.id).filter((id) => typeof id === "string")));
  }

  const injected = findFirstTaggedCellIndex(out, INJECTED_TAG);
  const defaults = findFirstTaggedCellIndex(out, PARAMETERS_TAG);
  if (injected >= 0) out.cells.splice(injected, 1, cell);
  else if (defaults >= 0) out.cells.splice(defaults + 1, 0, cell);
  else out.cells.unshift(cell);

  const previous: unknown = out.metadata.papermill;
  const papermill =
    typeof previous === "object" && previous !== null && !Array.isArray(previous) ? previous : {};
  out.metadata.papermill = { ...papermill, parameters: toJsonValue(params) } as typeof out.metadata.papermill;
  return out;
}

/** Index of the cell tagged `injected-parameters` (the first one), or -1. */
export function findInjectedCellIndex(nb: Notebook): number {
  return findFirstTaggedCellIndex(nb, INJECTED_TAG);
}

/**
 * An nbformat cell id (8 hex characters, as nbformat's `random_cell_id`) not in `taken`.
 */
export function newCellId(taken: ReadonlySet<string> = new Set()): string {
  for (;;) {
    const id = randomBytes(4).toString("hex");
    if (!taken.has(id)) return id;
  }
}

/** JavaScript names the `parameters` cell declares with `var`: they must be redeclared with `var`. */
function varDeclaredNames(nb: Notebook, language: ParamLanguage): Set<string> {
  if (language !== "javascript" && language !== "typescript") return new Set();
  return new Set(
    readParameterDefaults(nb, language)
      .filter((d) => d.keyword === "var")
      .map((d) => d.name),
  );
}

/**
 * @module Putting the parameters cell into a notebook, where papermill 2.x puts it
 * (`parameterize_notebook`): it replaces the first cell tagged `injected-parameters`; else it goes
 * right after the first cell tagged `parameters` (of any cell type); else first.
 */
import { randomBytes } from "node:crypto";
import type { CodeCell, Notebook, ParamLanguage, Parameters } from "../types.js";
import { INJECTED_TAG, PARAMETERS_TAG, cellSourceText, findFirstTaggedCellIndex } from "./cells.js";
import { toJsonValue } from "./param-values.js";
import { readSourceDefaults } from "./read-defaults.js";
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
 * there is nothing to inject. JavaScript/TypeScript names are declared with the keyword the
 * notebook declares them with (Deno redeclares a name only with the same keyword), else `let`.
 *
 * Throws AppError("parameter-invalid") for a name the language cannot use (see names.ts).
 */
export function injectParameters(nb: Notebook, params: Parameters, options: InjectOptions): Notebook {
  const source = injectedSource(nb, params, options);
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

  recordParameters(out, params);
  return out;
}

/**
 * The source of the `injected-parameters` cell injectParameters gives `nb` for `params` (the
 * same checks and errors), without copying the notebook.
 */
export function injectedSource(nb: Notebook, params: Parameters, options: InjectOptions): string {
  const { language, comment = "Parameters" } = options;
  return translateParameters(language, params, comment, { keywords: declarationKeywords(nb, language) });
}

/** Records `params` in `nb.metadata.papermill.parameters`, as injectParameters does (in place). */
export function recordParameters(nb: Notebook, params: Parameters): void {
  const previous: unknown = nb.metadata.papermill;
  const papermill =
    typeof previous === "object" && previous !== null && !Array.isArray(previous) ? previous : {};
  nb.metadata.papermill = { ...papermill, parameters: toJsonValue(params) } as typeof nb.metadata.papermill;
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

/**
 * JavaScript/TypeScript: the keyword of the first top-level `let`/`const`/`var` declaration of
 * each name in the notebook's code cells (the parameters cell, but also any other cell: Deno
 * refuses `let x` before a later cell's `const x` just as after it), leaving out the
 * `injected-parameters` cell that is about to be replaced. A notebook that declares one name with
 * two keywords fails in Deno on its own, so the first one is as good as any.
 */
function declarationKeywords(nb: Notebook, language: ParamLanguage): Map<string, "let" | "const" | "var"> {
  const keywords = new Map<string, "let" | "const" | "var">();
  if (language !== "javascript" && language !== "typescript") return keywords;
  const replaced = findFirstTaggedCellIndex(nb, INJECTED_TAG);
  for (const [index, cell] of nb.cells.entries()) {
    if (cell.cell_type !== "code" || index === replaced) continue;
    for (const definition of readSourceDefaults(cellSourceText(cell), language)) {
      if (definition.keyword && !keywords.has(definition.name))
        keywords.set(definition.name, definition.keyword);
    }
  }
  return keywords;
}

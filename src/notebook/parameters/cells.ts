/**
 * @module Reading cell tags and sources the way papermill does (tags in `metadata.tags`, any cell
 * type; a source is a string or a list of lines).
 */
import type { Cell, Notebook } from "../types.js";

/** The tag papermill's user marks the defaults cell with. */
export const PARAMETERS_TAG = "parameters";
/** The tag of the cell papermill (and nbhook) writes. */
export const INJECTED_TAG = "injected-parameters";

export function hasTag(cell: Cell, tag: string): boolean {
  const tags: unknown = cell.metadata?.tags;
  return Array.isArray(tags) && tags.includes(tag);
}

/** papermill's `find_first_tagged_cell_index`: the first cell of any type with `tag`, or -1. */
export function findFirstTaggedCellIndex(nb: Notebook, tag: string): number {
  return nb.cells.findIndex((cell) => hasTag(cell, tag));
}

export function cellSourceText(cell: Cell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

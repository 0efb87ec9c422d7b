/**
 * Words used across nbhook's notebook layer. Notebook structures are nbformat v4 as defined by
 * @jupyterlab/nbformat (type-only import: the package is ESM types plus small guards).
 */
import type { INotebookContent, ICell, ICodeCell, IOutput } from "@jupyterlab/nbformat";

export type { INotebookContent as Notebook, ICell as Cell, ICodeCell as CodeCell, IOutput as Output };

/**
 * A parameter value as nbhook carries it from the command line, a JSON/YAML file or an HTTP request
 * to a kernel. Python tells int from float (`3` vs `3.0`) and JavaScript numbers cannot, so an
 * integer is a `bigint` and a float is a `number` (papermill's type inference needs the difference).
 */
export type ParamValue =
  null | boolean | bigint | number | string | ParamValue[] | { [key: string]: ParamValue };

export type Parameters = Record<string, ParamValue>;

/** The kernel languages nbhook knows how to write parameters for. */
export type ParamLanguage = "python" | "r" | "julia" | "javascript" | "typescript";

/** MIME type of the response bundle the in-kernel helpers display (DESIGN.md, "Response"). */
export const RESPONSE_MIME = "application/vnd.nbhook.response+json";

/** What the notebook chose to return, decoded to bytes. */
export interface NotebookResponse {
  contentType: string;
  body: Buffer;
  filename?: string;
  status?: number;
  headers?: Record<string, string>;
  /**
   * `notebook` when the notebook asked for its own executed copy (respond_notebook): the body is
   * empty and the runner fills it by rendering the output notebook to HTML after the run.
   */
  kind?: "notebook";
}

/**
 * A response the notebook gave that cannot be answered (an invalid nbhook bundle, a Naas
 * respond_file whose file cannot be read): the run fails with this error instead of skipping it.
 */
export interface BrokenResponse {
  kind: "broken";
  ename: string;
  evalue: string;
  /** 0-based index of the cell that displayed it. */
  cellIndex: number;
}

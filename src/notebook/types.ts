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

/**
 * An answer's bytes kept in a file rather than in memory (respond_file): sent by streaming the
 * file, never read whole. The file is a copy made for this one answer (DESIGN.md, "Response"),
 * removed once the answer was sent or kept.
 */
export interface AnswerFile {
  /** Absolute path of the copy, directly inside its own `nbhook-answer-*` folder. */
  path: string;
  /** Its size in bytes, when it was found. */
  size: number;
}

/** What the notebook chose to return. */
export interface NotebookResponse {
  contentType: string;
  /** The bytes, when they are held in memory; empty when {@link file} holds them. */
  body: Buffer;
  /** The bytes are in this file (respond_file while a server runs the notebook). */
  file?: AnswerFile;
  filename?: string;
  status?: number;
  headers?: Record<string, string>;
  /**
   * `notebook` when the notebook asked for its own executed copy (respond_notebook): the body is
   * empty and the runner fills it by rendering the output notebook to HTML after the run.
   */
  kind?: "notebook";
}

/** 1 MiB. */
const MIB = 1024 * 1024;

/** `--max-output` by default: what the saved notebook keeps of one output (stream text, MIME value). */
export const DEFAULT_MAX_OUTPUT_BYTES = 10 * MIB;

/** `--max-answer` by default: the largest answer a notebook may give (respond_file). */
export const DEFAULT_MAX_ANSWER_BYTES = 1024 * MIB;

/**
 * The largest answer carried inside the response bundle itself (respond_json, respond_html, …):
 * it crosses the kernel's messages, the outputs and memory whole, so a bigger one fails the run
 * and asks for respond_file, whose bytes stay on disk.
 */
export const MAX_INLINE_ANSWER_BYTES = 64 * MIB;

/**
 * How big a run's outputs and answer may get, and where answer files go: the server's
 * `--max-output` and `--max-answer` (docs/api.md, "Limits"). Every field has a default.
 */
export interface AnswerLimits {
  /** Per output kept in the executed notebook; beyond it the output is cut, with a marker. */
  maxOutputBytes?: number;
  /** Per answer; a bigger one fails the run. Inline answers stop at {@link MAX_INLINE_ANSWER_BYTES}. */
  maxAnswerBytes?: number;
  /**
   * Folder where the server copies a Naas respond_file's file to stream it (the helper's own
   * copies go to NBHOOK_ANSWER_DIR, which the runner sets). Unset: that file is read into memory,
   * as `nbhook run` needs.
   */
  answerDir?: string;
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

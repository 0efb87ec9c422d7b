/**
 * @module A call's own copies of its answer files (respond_file), removed once they were sent or
 * will never be: its answer's, and its response's when the answer is not it (a next_url
 * redirect). Each is in its own folder (notebook/response.ts); a store keeping an answer linked
 * or copied it already.
 */
import { rm } from "node:fs/promises";
import { answerFolderOf } from "../notebook/response.js";
import type { CallResult, RunLogger } from "./types.js";

export async function releaseAnswerFiles(result: CallResult, log: Pick<RunLogger, "warn">): Promise<void> {
  const response = result.outcome.kind === "ran" ? result.outcome.response : undefined;
  for (const file of new Set([result.answer.file?.path, response?.file?.path])) {
    const folder = file && answerFolderOf(file);
    if (!folder) continue;
    await rm(folder, { recursive: true, force: true }).catch((err: unknown) =>
      log.warn({ err, file }, "could not remove an answer file"),
    );
  }
}

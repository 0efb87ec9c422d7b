/**
 * The file half of the embedded store (DESIGN.md, "Store layout"):
 *   webhooks/<id>/versions/<histo>.ipynb   deployed notebooks
 *   webhooks/<id>/outputs/<histo>.ipynb    executed notebooks of runs
 *   webhooks/<id>/files/…                  dependencies; the kernel's working directory
 *   webhooks/<id>/uploads/<histo>/…        files posted to one run
 *   webhooks/<id>/responses/<run id>       the answer body of a run that kept it (async calls)
 * Every write goes to a temporary name and is renamed.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { copyFile, link, mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../errors.js";
import { writeFileAtomic } from "../notebook/read.js";
import type { AnswerFile } from "../notebook/types.js";

/** A kept answer up to this size is read into memory to be sent; a larger one is streamed. */
export const KEPT_ANSWER_READ_BYTES = 1024 * 1024;

/** Files up to this size are read with synchronous calls (see FileLayout.read). */
const SYNC_READ_BYTES = 256 * 1024;

export class FileLayout {
  constructor(readonly home: string) {}

  webhookDir(webhookId: string): string {
    return path.join(this.home, "webhooks", webhookId);
  }

  versionFile(webhookId: string, histo: string): string {
    return path.join(this.webhookDir(webhookId), "versions", `${histo}.ipynb`);
  }

  outputFile(webhookId: string, histo: string): string {
    return path.join(this.webhookDir(webhookId), "outputs", `${histo}.ipynb`);
  }

  filesDir(webhookId: string): string {
    return path.join(this.webhookDir(webhookId), "files");
  }

  uploadsDir(webhookId: string, histo: string): string {
    return path.join(this.webhookDir(webhookId), "uploads", histo);
  }

  responseFile(webhookId: string, runId: string): string {
    return path.join(this.webhookDir(webhookId), "responses", runId);
  }

  /** A path under the files folder; refuses anything that would land outside it. */
  dependencyFile(webhookId: string, relativePath: string): string {
    const base = this.filesDir(webhookId);
    const target = path.resolve(base, relativePath);
    if (path.isAbsolute(relativePath) || !target.startsWith(base + path.sep)) {
      throw new AppError(
        "usage",
        `dependency path "${relativePath}" must be relative and stay inside the webhook's folder`,
      );
    }
    return target;
  }

  async write(file: string, data: Buffer | string): Promise<void> {
    // Synchronous: a folder that exists (nearly always) costs one syscall, not a thread-pool trip.
    mkdirSync(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, data);
  }

  /**
   * Makes `file` hold the bytes of the file at `source` without reading them: a hard link (same
   * disk, no copy at all), else a copy made by the OS (copy_file_range). `source` stays where it
   * is (its owner removes it); `file` appears whole or not at all (temporary name, then rename).
   */
  async keep(file: string, source: string): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = path.join(
      path.dirname(file),
      `.${path.basename(file)}.${randomBytes(4).toString("hex")}.tmp`,
    );
    try {
      await link(source, tmp).catch(() => copyFile(source, tmp));
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * A kept body: its bytes when small, else the file itself to stream (undefined when missing).
   * Small ones are read because most answers are a few bytes of JSON, cheaper sent from memory.
   */
  async readBody(file: string): Promise<{ body: Buffer; file?: AnswerFile } | undefined> {
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (err) {
      if (err instanceof Error && "code" in err && err.code === "ENOENT") return undefined;
      throw err;
    }
    if (size > KEPT_ANSWER_READ_BYTES) return { body: Buffer.alloc(0), file: { path: file, size } };
    const body = await this.read(file);
    return body && { body };
  }

  async read(file: string): Promise<Buffer | undefined> {
    try {
      // A small file (a deployed notebook, read by every call) in two syscalls, not four
      // thread-pool trips; a large one without blocking the event loop.
      if (statSync(file).size <= SYNC_READ_BYTES) return readFileSync(file);
      return await readFile(file);
    } catch (err) {
      if (err instanceof Error && "code" in err && err.code === "ENOENT") return undefined;
      throw err;
    }
  }

  async remove(file: string): Promise<void> {
    await rm(file, { force: true, recursive: true });
  }

  async ensureDir(dir: string): Promise<string> {
    mkdirSync(dir, { recursive: true }); // as in write(): every call ensures its files folder
    return dir;
  }
}

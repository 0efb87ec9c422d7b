/**
 * The file half of the embedded store (DESIGN.md, "Store layout"):
 *   webhooks/<id>/versions/<histo>.ipynb   deployed notebooks
 *   webhooks/<id>/outputs/<histo>.ipynb    executed notebooks of runs
 *   webhooks/<id>/files/…                  dependencies; the kernel's working directory
 *   webhooks/<id>/uploads/<histo>/…        files posted to one run
 *   webhooks/<id>/responses/<run id>       the answer body of a run that kept it (async calls)
 * Every write goes to a temporary name and is renamed.
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../errors.js";
import { writeFileAtomic } from "../notebook/read.js";

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
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, data);
  }

  async read(file: string): Promise<Buffer | undefined> {
    try {
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
    await mkdir(dir, { recursive: true });
    return dir;
  }
}

/**
 * Writing a notebook fetched from the server (a version, an output) to a local file. An existing
 * file is never overwritten without --force (Naas refused too); `-` writes to stdout.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { NotebookDownload } from "../client/index.js";
import { AppError } from "../errors.js";
import { writeFileAtomic } from "../notebook/read.js";

/** `<folder of the notebook>/<stem>.<label>.ipynb`, e.g. `/x/report.20261126101221879662.ipynb`. */
export function besideNotebook(notebookPath: string, label: string): string {
  const { dir, name } = path.parse(notebookPath);
  return path.join(dir, `${name}.${label}.ipynb`);
}

/**
 * The notebook path a download goes beside: the argument's, or, for a webhook given by a name that
 * is not its path, its file name in the current folder.
 */
export function downloadBase(
  ref: string,
  webhook: { name: string; path: string; file_name: string },
): string {
  return webhook.name === ref && ref !== webhook.path ? path.resolve(webhook.file_name) : path.resolve(ref);
}

/** Writes the download; answers where it went ("-" for stdout). */
export async function saveDownload(
  download: NotebookDownload,
  target: string,
  force: boolean,
): Promise<string> {
  if (target === "-") {
    process.stdout.write(download.text);
    return target;
  }
  const file = path.resolve(target);
  if (force) {
    await writeFileAtomic(file, download.text);
    return file;
  }
  try {
    await writeFile(file, download.text, { flag: "wx" });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") {
      throw new AppError(
        "usage",
        `${file} already exists: choose another file with -o FILE, or pass --force to overwrite it`,
      );
    }
    if (code === "ENOENT") throw new AppError("usage", `cannot write ${file}: its folder does not exist`);
    throw err;
  }
  return file;
}

/**
 * `get` and `get-output`: saves the download (default `<stem>.<label>.ipynb` beside the notebook)
 * and prints where it went, unless it went to stdout.
 */
export async function saveAndReport(
  download: NotebookDownload,
  notebookPath: string,
  label: string,
  flags: { output?: string; force?: boolean; json?: boolean },
): Promise<void> {
  const target = flags.output ?? besideNotebook(path.resolve(notebookPath), label);
  const written = await saveDownload(download, target, flags.force ?? false);
  if (written === "-") return;
  process.stdout.write(
    flags.json ? JSON.stringify({ histo: download.histo, file: written }) + "\n" : written + "\n",
  );
}

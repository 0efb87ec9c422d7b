/**
 * What `add` sends besides settings: the notebook's text and its dependency files, read from disk
 * here. A dependency keeps its path relative to the notebook's folder (so `open("data/x.csv")`
 * works the same in the deployed notebook, whose working directory is its files folder); one
 * outside that folder is sent under its base name.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../errors.js";

/** A dependency: a local file path, or a relative path with its contents. */
export type DependencyFile = string | { path: string; data: Buffer | string };

export interface WireFile {
  path: string;
  data: string;
}

async function readLocal(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a folder" : (err as Error).message;
    throw new AppError("usage", `cannot read ${what} ${file}: ${why}`, { cause: err });
  }
}

export async function readNotebookText(notebookPath: string): Promise<string> {
  return (await readLocal(notebookPath, "notebook")).toString("utf8");
}

/** Where a local dependency goes, relative to the deployed notebook's folder. */
export function dependencyName(notebookPath: string, file: string): string {
  const relative = path.relative(path.dirname(notebookPath), file);
  if (relative && !relative.startsWith("..") && !path.isAbsolute(relative))
    return relative.split(path.sep).join("/");
  return path.basename(file);
}

export async function readDependencies(notebookPath: string, files: DependencyFile[]): Promise<WireFile[]> {
  const out: WireFile[] = [];
  for (const file of files) {
    if (typeof file === "string") {
      const absolute = path.resolve(file);
      const data = await readLocal(absolute, "dependency file");
      out.push({ path: dependencyName(notebookPath, absolute), data: data.toString("base64") });
    } else {
      const data = typeof file.data === "string" ? Buffer.from(file.data, "utf8") : file.data;
      out.push({ path: file.path, data: data.toString("base64") });
    }
  }
  return out;
}

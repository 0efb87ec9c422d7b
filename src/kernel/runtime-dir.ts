/**
 * @module The server's kernel folders: `<home>/kernels` (mode 0700) holds one private folder per
 * kernel (its ipc sockets, its IPYTHONDIR, its log; the connection file only until the kernel
 * answers). A kernel's folder is removed when it ends; what a killed server left there (its
 * kernels die with it: parent-death signal) is swept at the next start. The home lock makes the
 * server the folder's only user, so everything in it at start is left over.
 */
import { chmod, mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";

export interface KernelRuntimeDir {
  dir: string;
  /** Folders left by an earlier server, removed. */
  swept: number;
}

/** Creates (or tightens to 0700) `<home>/kernels` and empties it. Call with the home locked. */
export async function prepareKernelRuntimeDir(home: string): Promise<KernelRuntimeDir> {
  return preparePrivateDir(path.join(home, "kernels"));
}

/**
 * Creates (or tightens to 0700) a scratch folder of the server and empties it: `<home>/kernels`,
 * `<home>/answers` (the copies respond_file streams from). Call with the home locked.
 */
export async function preparePrivateDir(dir: string): Promise<KernelRuntimeDir> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const left = await readdir(dir);
  await Promise.all(left.map((name) => rm(path.join(dir, name), { recursive: true, force: true })));
  return { dir, swept: left.length };
}

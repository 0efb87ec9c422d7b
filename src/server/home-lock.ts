/**
 * One server per home folder: the database, the files and the runs in flight belong to it (at
 * start, runs left "running" are closed as died, which would be wrong under a live server).
 * A lock file holds the server's pid; a lock whose pid is gone is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { AppError } from "../errors.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the home's lock, or throws saying which process holds it. Returns the release function. */
export function lockHome(home: string): () => void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = path.join(home, "server.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number(readFileSync(file, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new AppError(
          "conflict",
          `another nbhook server (pid ${pid}) is using ${home}: stop it, or give this one its own --home`,
        );
      }
      rmSync(file, { force: true }); // left by a server that is gone
    }
  }
  throw new AppError("conflict", `cannot take the lock ${file}`);
}

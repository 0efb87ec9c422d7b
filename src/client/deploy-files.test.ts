import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { dependencyName, readDependencies, readNotebookText } from "./deploy-files.js";

const scratches: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nbhook-deps-"));
  scratches.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of scratches.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("dependency files", () => {
  it("keep their path relative to the notebook's folder, or their name when outside it", () => {
    expect(dependencyName("/x/report.ipynb", "/x/cities.csv")).toBe("cities.csv");
    expect(dependencyName("/x/report.ipynb", "/x/data/2024/cities.csv")).toBe("data/2024/cities.csv");
    expect(dependencyName("/x/report.ipynb", "/y/lookup.json")).toBe("lookup.json");
    expect(dependencyName("/x/sub/report.ipynb", "/x/shared.py")).toBe("shared.py");
  });

  it("are read from disk and sent in base64; given contents are sent as they are", async () => {
    const dir = scratch();
    mkdirSync(path.join(dir, "data"));
    writeFileSync(path.join(dir, "data", "a.bin"), Buffer.from([0, 255]));
    const files = await readDependencies(path.join(dir, "nb.ipynb"), [
      path.join(dir, "data", "a.bin"),
      { path: "b.txt", data: "hé" },
    ]);
    expect(files).toEqual([
      { path: "data/a.bin", data: Buffer.from([0, 255]).toString("base64") },
      { path: "b.txt", data: Buffer.from("hé").toString("base64") },
    ]);
  });

  it("that are missing, like a missing notebook, are a usage error naming the file", async () => {
    const dir = scratch();
    await expect(readDependencies(path.join(dir, "nb.ipynb"), [path.join(dir, "gone.csv")])).rejects.toThrow(
      new AppError("usage", `cannot read dependency file ${path.join(dir, "gone.csv")}: no such file`),
    );
    await expect(readNotebookText(dir)).rejects.toThrow(`cannot read notebook ${dir}: it is a folder`);
  });
});

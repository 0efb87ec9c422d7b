import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_SERVER_URL, resolveConnection } from "./connection.js";

const scratches: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nbhook-conn-"));
  scratches.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of scratches.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function homeWithToken(token: string): string {
  const home = scratch();
  writeFileSync(path.join(home, "api-token"), token + "\n");
  return home;
}

describe("resolveConnection", () => {
  it("defaults to the local server and the token file in NBHOOK_HOME", async () => {
    const home = homeWithToken("from-file");
    expect(await resolveConnection({}, { NBHOOK_HOME: home })).toEqual({
      url: DEFAULT_SERVER_URL,
      token: "from-file",
    });
  });

  it("prefers flags to the environment, and the environment to the token file", async () => {
    const home = homeWithToken("from-file");
    const env = { NBHOOK_HOME: home, NBHOOK_URL: "http://env:1", NBHOOK_TOKEN: "from-env" };
    expect(await resolveConnection({}, env)).toEqual({ url: "http://env:1", token: "from-env" });
    expect(await resolveConnection({ url: "http://flag:2", token: "from-flag" }, env)).toEqual({
      url: "http://flag:2",
      token: "from-flag",
    });
    expect(
      await resolveConnection({ home: homeWithToken("other-file") }, { NBHOOK_HOME: home }),
    ).toMatchObject({ token: "other-file" });
  });

  it("has no token when none is given and the home folder has no token file", async () => {
    const empty = scratch();
    expect(await resolveConnection({}, { NBHOOK_HOME: empty })).toEqual({ url: DEFAULT_SERVER_URL });
  });
});

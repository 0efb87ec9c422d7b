import { it } from "vitest";
import { findKernelSpecs } from "/work/main/src/kernel/index.js";
import { executeNotebook } from "/work/main/src/runs/index.js";
import { makeNotebook } from "/work/main/test/support/notebooks.js";

it("probe", async () => {
  const specs = await findKernelSpecs();
  const cases: [string, string[]][] = [
    ["log", ["console.log(1)"]],
    ["log+import", ["console.log(1);\nconst m = await import(Deno.env.get('NBHOOK_DENO_MODULE')!);\nconsole.log(2)"]],
    ["import+respond", ["const m = await import(Deno.env.get('NBHOOK_DENO_MODULE')!);\nawait m.webhook.respond_text('hi')"]],
    ["nbhook respond", ["await nbhook.webhook.respond_text('hi')"]],
    ["import+respond 2cells", ["const m = await import(Deno.env.get('NBHOOK_DENO_MODULE')!);", "await m.webhook.respond_text('hi')"]],
  ];
  for (const [name, cells] of cases) {
    const res: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await executeNotebook(makeNotebook(cells, "deno"), { specs });
      res.push(r.status + ":" + r.notebook.cells.map((c: any) => c.outputs.length).join(","));
    }
    console.log(name, res.join(" "));
  }
});

import { Command } from "commander";
import { findKernelSpecs, kernelDirs, kernelInstallHelp } from "../kernel/index.js";

export function kernelsCommand(): Command {
  return new Command("kernels")
    .description(
      "list the Jupyter kernels found on this machine and where each came from (JUPYTER_PATH, user, " +
        "VIRTUAL_ENV, CONDA_PREFIX, python3 on PATH, system, …), as `jupyter kernelspec list` finds them",
    )
    .option("--json", "print JSON instead of a table")
    .option("--paths", "also print every folder searched, in order (the first one wins for a name)")
    .action(async (opts: { json?: boolean; paths?: boolean }) => {
      const specs = await findKernelSpecs();
      if (opts.json) {
        const out = opts.paths ? { kernels: specs, searched: kernelDirs() } : specs;
        process.stdout.write(JSON.stringify(out, null, 2) + "\n");
        return;
      }
      if (specs.length === 0) {
        process.stdout.write(`No Jupyter kernels found.\n${kernelInstallHelp()}\n`);
        return;
      }
      const rows = [["NAME", "LANGUAGE", "DISPLAY NAME", "FROM", "LOCATION"]].concat(
        specs.map((s) => [s.name, s.language, s.displayName, s.source ?? "", s.resourceDir]),
      );
      const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
      for (const row of rows) {
        process.stdout.write(
          row
            .map((cell, col) => cell.padEnd(widths[col]!))
            .join("  ")
            .trimEnd() + "\n",
        );
      }
      if (opts.paths) {
        process.stdout.write("\nSearched, in order:\n");
        for (const d of kernelDirs()) process.stdout.write(`  ${d.dir}  (${d.source})\n`);
      }
    });
}

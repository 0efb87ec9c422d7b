import { Command } from "commander";
import { findKernelSpecs, jupyterDataPaths } from "../kernel/index.js";

export function kernelsCommand(): Command {
  return new Command("kernels")
    .description("list the Jupyter kernels found on this machine")
    .option("--json", "print JSON instead of a table")
    .action(async (opts: { json?: boolean }) => {
      const specs = await findKernelSpecs();
      if (opts.json) {
        process.stdout.write(JSON.stringify(specs, null, 2) + "\n");
        return;
      }
      if (specs.length === 0) {
        process.stdout.write(
          `No Jupyter kernels found. Searched: ${jupyterDataPaths().join(", ")}.\n` +
            `Install one, e.g. on Debian: apt-get install python3-ipykernel\n`,
        );
        return;
      }
      const rows = [["NAME", "LANGUAGE", "DISPLAY NAME", "LOCATION"]].concat(
        specs.map((s) => [s.name, s.language, s.displayName, s.resourceDir]),
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
    });
}

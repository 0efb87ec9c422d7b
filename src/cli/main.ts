#!/usr/bin/env node
/**
 * The `nbhook` command: argument parsing only; the work is in runs/ and kernel/.
 */
import { Command, CommanderError } from "commander";
import { AppError } from "../errors.js";
import { foldPairFlags } from "./argv.js";
import { kernelsCommand } from "./kernels-command.js";
import { runCommand } from "./run-command.js";
import { serveCommand } from "./serve-command.js";
import { EXIT } from "./exit-codes.js";

const program = new Command("nbhook")
  .description("Run Jupyter notebooks as HTTP APIs, on real Jupyter kernels.")
  .version("0.1.0")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

// exitOverride is not inherited by added commands: set it on each, so usage errors exit 2.
for (const command of [kernelsCommand(), runCommand(), serveCommand()]) {
  program.addCommand(command.exitOverride());
}

try {
  await program.parseAsync(foldPairFlags(process.argv.slice(2)), { from: "user" });
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : EXIT.usage;
  } else if (err instanceof AppError) {
    process.stderr.write(`nbhook: ${err.message}\n`);
    process.exitCode = err.code === "timeout" ? EXIT.timeout : EXIT.usage;
  } else {
    process.stderr.write(`nbhook: unexpected error: ${(err as Error).stack ?? err}\n`);
    process.exitCode = EXIT.internal;
  }
}

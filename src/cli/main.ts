#!/usr/bin/env node
/**
 * The `nbhook` command: argument parsing only; the work is in runs/ (run), server/ (serve) and
 * client/ (the management commands).
 */
import { Command, CommanderError } from "commander";
import { addCommand } from "./add-command.js";
import { callCommand } from "./call-command.js";
import { foldPairFlags } from "./argv.js";
import { dropOutputToClosedPipes } from "./closed-pipe.js";
import { exitCodeOf, userMessageOf } from "./error-exit.js";
import { EXIT } from "./exit-codes.js";
import { kernelsCommand } from "./kernels-command.js";
import { nativeModuleProblem } from "../native-modules.js";
import { packageVersion } from "../package-version.js";
import { clearOutputCommand, getOutputCommand } from "./output-commands.js";
import { paramsCommand } from "./params-command.js";
import { pythonPathCommand } from "./python-path-command.js";
import { runCommand } from "./run-command.js";
import { runsCommand } from "./runs-command.js";
import { secretsCommand } from "./secrets-command.js";
import { serveCommand } from "./serve-command.js";
import { tokensCommand } from "./tokens-command.js";
import { workerCommand } from "./worker-command.js";
import { clearCommand, getCommand, listCommand } from "./version-commands.js";
import { currentsCommand, deleteCommand, findCommand, rotateCommand } from "./webhook-commands.js";

dropOutputToClosedPipes();

const program = new Command("nbhook")
  .description("Run Jupyter notebooks as HTTP APIs, on real Jupyter kernels.")
  .version(packageVersion())
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

// exitOverride is not inherited by added commands: set it on each, so usage errors exit 2 (the
// management commands set it in withServerOptions).
for (const command of [
  kernelsCommand(),
  runCommand(),
  serveCommand(),
  workerCommand(),
  pythonPathCommand(),
  callCommand(),
]) {
  program.addCommand(command.exitOverride());
}
for (const command of [
  addCommand(),
  findCommand(),
  listCommand(),
  getCommand(),
  clearCommand(),
  getOutputCommand(),
  clearOutputCommand(),
  deleteCommand(),
  currentsCommand(),
  rotateCommand(),
  runsCommand(),
  secretsCommand(),
  tokensCommand(),
  paramsCommand(),
]) {
  program.addCommand(command);
}

try {
  await program.parseAsync(foldPairFlags(process.argv.slice(2)), { from: "user" });
} catch (err) {
  const code = exitCodeOf(err);
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : EXIT.usage;
  } else if (nativeModuleProblem(err)) {
    process.stderr.write(`nbhook: ${nativeModuleProblem(err)}\n`);
    process.exitCode = EXIT.usage;
  } else if (code !== undefined) {
    process.stderr.write(`nbhook: ${userMessageOf(err)}\n`);
    process.exitCode = code;
  } else {
    process.stderr.write(`nbhook: unexpected error: ${(err as Error).stack ?? err}\n`);
    process.exitCode = EXIT.internal;
  }
}

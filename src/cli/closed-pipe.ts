/**
 * A reader that stops early (`nbhook kernels | head -1`) closes the pipe, and the next write to it
 * fails with EPIPE: Node reports that as an 'error' event, which unhandled is a crash with a stack
 * trace. Most Unix tools die quietly of SIGPIPE there; Node ignores SIGPIPE, so nbhook does the
 * quiet part itself: what no one reads any more is dropped, and the command ends as it would have,
 * with its own exit code.
 */
export function dropOutputToClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
    });
  }
}

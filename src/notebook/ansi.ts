/** Removes ANSI escape sequences (colours in tracebacks, cursor moves of progress bars). */
export function stripAnsi(text: string): string {
  // CSI sequences, OSC sequences (ended by BEL or ST), then other escapes (`ESC 7`, `ESC ( B`).
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]/g, "");
}

/** Removes ANSI colour and cursor sequences, which kernels put in tracebacks and Deno in results. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
}

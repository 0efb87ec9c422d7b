/**
 * A zod error as one line naming the bad fields, for error messages and warnings that end up in
 * logs (zod's own z.prettifyError is multi-line).
 */
import type { z } from "zod";

/** `content.status: Invalid option: expected one of …; argv: …` (the first three issues). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.map(String).join(".") || "(the value itself)"}: ${issue.message}`)
    .join("; ");
}

/**
 * @module Webhook names (docs/api.md, "Names"): a webhook's identity. Given at `add` (`--name`),
 * or by default the notebook's absolute path (the identity before names existed, so one user's
 * deploys keep updating the same webhook). Browser-safe: the dashboard and the SDK import it.
 */

/** Longest name given at add, in characters. */
export const MAX_NAME_LENGTH = 200;

/**
 * A name given at add: a letter or digit first, then letters, digits and `.` `_` `-` `@` `+` `/`
 * (so `sales/report` or `report@2` work), at most MAX_NAME_LENGTH characters, no `/` at the end.
 * Names starting with `/` are paths: only a webhook's own path may be its name (the default).
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@+/-]*$/;

/** What is wrong with `name` as a name given at add (completing "name N …"), or undefined. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.length > MAX_NAME_LENGTH)
    return `is ${name.length} characters long: a name may have at most ${MAX_NAME_LENGTH}`;
  if (name.startsWith("/"))
    return "starts with /: that is a path, and only the notebook's own path may be a webhook's name (leave --name out for it)";
  if (!NAME_PATTERN.test(name) || name.endsWith("/") || name.includes("//"))
    return (
      "must start with a letter or digit and hold only letters, digits and . _ - @ + / " +
      '(no spaces, no / at the end), e.g. "sales-report" or "team/report"'
    );
  return undefined;
}

/** How a webhook is called in titles and lists: its name, or its file name when it is named by its path. */
export function webhookTitle(w: { name: string; path: string; file_name: string }): string {
  return w.name === w.path ? w.file_name : w.name;
}

/**
 * @module Parameter definitions in a Python `parameters` cell: top-level `name = value` and
 * `name: annotation = value` statements (papermill's `inspect` reads the same), with the trailing
 * comment as help and papermill's `# type: int` comments as annotations.
 */
import { isValidName } from "./names.js";
import { readPythonValue } from "./python-literal.js";
import { pythonStatements } from "./python-lexer.js";
import { combineTypes, pythonAnnotationType } from "./annotation-types.js";
import { findTopLevel, type Token } from "./source-tokens.js";
import type { ParameterDefault } from "./types.js";

export function readPythonDefaults(source: string): ParameterDefault[] {
  const found: ParameterDefault[] = [];
  for (const statement of pythonStatements(source)) {
    if (statement.indented) continue;
    const definition = readDefinition(source, statement.tokens, statement.comment);
    if (definition) found.push(definition);
  }
  return found;
}

function readDefinition(
  source: string,
  tokens: Token[],
  comment: string | undefined,
): ParameterDefault | undefined {
  const [first, second] = tokens;
  if (first?.kind !== "name" || second?.kind !== "op" || !isValidName("python", first.text)) return undefined;
  if (second.text !== "=" && second.text !== ":") return undefined;
  const equals = second.text === "=" ? 1 : findTopLevel(tokens, "=", 2);
  const valueTokens = equals >= 0 ? tokens.slice(equals + 1) : [];
  if (findTopLevel(valueTokens, "=") >= 0) return undefined; // a = b = 1
  let annotation: string | undefined;
  if (second.text === ":") {
    const end = equals >= 0 ? tokens[equals] : undefined;
    annotation = source.slice(tokens[2]?.start ?? second.start + 1, end?.start ?? endOf(tokens)).trim();
    if (annotation === "") return undefined;
  }
  let help = comment;
  const typeComment = comment === undefined ? undefined : /^type:\s*(\S+)\s*(.*)$/.exec(comment);
  if (typeComment) {
    annotation ??= typeComment[1];
    help = typeComment[2];
  }
  const read = equals >= 0 ? readPythonValue(valueTokens) : { type: "unknown" as const };
  const definition: ParameterDefault = {
    name: first.text,
    type: combineTypes(read.type, annotation === undefined ? "unknown" : pythonAnnotationType(annotation)),
  };
  if (read.value !== undefined) definition.default = read.value;
  if (annotation !== undefined) definition.annotation = annotation;
  if (help) definition.help = help;
  return definition;
}

function endOf(tokens: Token[]): number {
  const last = tokens[tokens.length - 1];
  return last === undefined ? 0 : last.start + last.text.length;
}

/**
 * @module Parameter definitions in a JavaScript/TypeScript `parameters` cell: top-level
 * `let|const|var name(: type)? (= value)?` declarations, several per statement allowed, with a
 * trailing `// comment` as help.
 */
import { combineTypes, tsAnnotationType } from "./annotation-types.js";
import { readJsValue } from "./js-literal.js";
import { jsStatements } from "./js-lexer.js";
import { isValidName } from "./names.js";
import { CLOSERS, OPENERS, type Token } from "./source-tokens.js";
import type { ParameterDefault } from "./types.js";

const KEYWORDS = new Set(["let", "const", "var"]);

export function readJsDefaults(source: string): ParameterDefault[] {
  const found: ParameterDefault[] = [];
  for (const statement of jsStatements(source)) {
    const [first, ...rest] = statement.tokens;
    if (first?.kind !== "name" || !KEYWORDS.has(first.text)) continue;
    const keyword = first.text as "let" | "const" | "var";
    const declarators = splitDeclarators(rest);
    declarators.forEach((declarator, index) => {
      const definition = readDeclarator(source, declarator, keyword);
      if (!definition) return;
      if (index === declarators.length - 1 && statement.comment) definition.help = statement.comment;
      found.push(definition);
    });
  }
  return found;
}

interface Declarator {
  name: Token;
  annotation: Token[];
  value?: Token[];
}

/**
 * Splits `a: Record<string, number> = {}, b = 2` into declarators. Commas split at the top level
 * of brackets and, inside a type annotation, of angle brackets too.
 */
function splitDeclarators(tokens: Token[]): Declarator[] {
  const result: Declarator[] = [];
  let current: Declarator | undefined;
  let phase: "name" | "annotation" | "value" = "name";
  let depth = 0;
  let angles = 0;
  for (const token of tokens) {
    if (phase === "name") {
      if (current === undefined) {
        if (token.kind !== "name") return result; // destructuring: not read
        current = { name: token, annotation: [] };
        continue;
      }
    }
    const top = depth === 0 && angles === 0 && token.kind === "op";
    if (top && token.text === "," && current) {
      result.push(current);
      current = undefined;
      phase = "name";
      continue;
    }
    if (phase !== "value" && top && token.text === ":") phase = "annotation";
    else if (phase !== "value" && top && token.text === "=") {
      phase = "value";
      if (current) current.value = [];
    } else if (phase === "annotation") {
      current?.annotation.push(token);
      angles += angleChange(token);
    } else if (phase === "value") current?.value?.push(token);
    else if (!(token.kind === "op" && token.text === "!")) return result; // not a declarator
    if (token.kind === "op" && OPENERS.has(token.text)) depth++;
    else if (token.kind === "op" && CLOSERS.has(token.text)) depth = Math.max(0, depth - 1);
  }
  if (current) result.push(current);
  return result;
}

function angleChange(token: Token): number {
  if (token.kind !== "op") return 0;
  if (token.text === "<") return 1;
  if (/^>+$/.test(token.text)) return -token.text.length;
  return 0;
}

function readDeclarator(
  source: string,
  d: Declarator,
  keyword: "let" | "const" | "var",
): ParameterDefault | undefined {
  if (!isValidName("javascript", d.name.text)) return undefined;
  const read = d.value === undefined ? { type: "unknown" as const } : readJsValue(d.value);
  const definition: ParameterDefault = { name: d.name.text, type: read.type, keyword };
  const first = d.annotation[0];
  const last = d.annotation[d.annotation.length - 1];
  if (first !== undefined && last !== undefined) {
    const annotation = source.slice(first.start, last.start + last.text.length).trim();
    definition.annotation = annotation;
    definition.type = combineTypes(read.type, tsAnnotationType(annotation));
  }
  if (read.value !== undefined) definition.default = read.value;
  return definition;
}

/**
 * papermill's `-p NAME VALUE` takes two words after one flag, which commander cannot express. Before
 * parsing, each such pair is folded into one word `NAME\0VALUE` (a NUL never occurs in argv), and
 * split again by `splitPair`.
 */
import { AppError } from "../errors.js";

const PAIR_FLAGS = new Set(["-p", "--parameters", "-r", "--parameters-raw", "--parameters_raw"]);

export function foldPairFlags(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (PAIR_FLAGS.has(arg) && i + 2 < argv.length) {
      out.push(arg, `${argv[i + 1]}\0${argv[i + 2]}`);
      i += 2;
    } else {
      out.push(arg);
    }
  }
  return out;
}

export function splitPair(word: string, flag: string): [string, string] {
  const at = word.indexOf("\0");
  if (at < 0)
    throw new AppError("usage", `${flag} takes two values: ${flag} NAME VALUE (got only "${word}")`);
  return [word.slice(0, at), word.slice(at + 1)];
}

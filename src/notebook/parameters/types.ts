/**
 * @module Words of the parameters layer (the values themselves, ParamValue and Parameters, are in
 * ../types.ts).
 */
import type { ParamValue } from "../types.js";

/** The type names nbhook uses for parameters: papermill's, plus "unknown". */
export type ParamType = "int" | "float" | "bool" | "none" | "str" | "list" | "dict" | "unknown";

/** A name the notebook's `parameters` cell defines, and what nbhook could tell about it. */
export interface ParameterDefault {
  name: string;
  /** From the literal value, else the annotation, else the syntax; "unknown" when none tells. */
  type: ParamType;
  /** The default when it is a literal nbhook can read; absent otherwise. */
  default?: ParamValue;
  /** The annotation as written (`int`, `Optional[str]`, `number`), if any. */
  annotation?: string;
  /** The comment at the end of the definition's line, if any. */
  help?: string;
  /** JavaScript/TypeScript: the keyword that declared the name. */
  keyword?: "let" | "const" | "var";
}

/** What a reader found on the right of `=`: a type, and the value when it is a literal. */
export interface ReadValue {
  type: ParamType;
  value?: ParamValue;
}

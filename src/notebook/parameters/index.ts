/**
 * @module Notebook parameters, papermill-compatible: translating values into an
 * `injected-parameters` cell for each kernel language, placing that cell, reading the defaults of
 * the `parameters` cell back, coercing request strings to their types, and reading values from the
 * command line and parameter files, and the limits on values a kernel's compiler can read.
 */
export type { ParamType, ParameterDefault } from "./types.js";
export { translateParameters, translateValue, type TranslateOptions } from "./translators.js";
export { validateName, isValidName, nameProblem, variableName } from "./names.js";
export {
  injectParameters,
  injectedSource,
  recordParameters,
  findInjectedCellIndex,
  newCellId,
  type InjectOptions,
} from "./inject.js";
export { INJECTED_TAG, PARAMETERS_TAG, findFirstTaggedCellIndex, hasTag } from "./cells.js";
export { readParameterDefaults, readSourceDefaults } from "./read-defaults.js";
export { coerceParameter } from "./coerce.js";
export { inferCliValue, readParametersFile, parseYamlParameters } from "./cli-values.js";
export { parseJsonParameters, type JsonParameterOptions } from "./json-values.js";
export {
  checkParameterLimits,
  checkNesting,
  isNestedDeeper,
  ParameterLimitError,
  MAX_NESTING_DEPTH,
  MAX_INT_DIGITS,
  PYTHON_MAX_INT_DIGITS,
} from "./limits.js";
export { pythonFloatRepr, pythonUnicodeEscape } from "./python-repr.js";
export { toJsonValue, typeOfValue, describeValue, setOwn } from "./param-values.js";
export {
  jsonDefault,
  parameterJsonSchema,
  parametersJsonSchema,
  JSON_SCHEMA_DIALECT,
  type JsonSchema,
} from "./json-schema.js";

import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

// Import cycles are checked by scripts/check-cycles.mjs (run by `npm run lint`), not by a rule:
// eslint-plugin-import-x's no-cycle skips type-only imports, and those cycles count here too.
export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "python/**", "deno/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { languageOptions: { globals: globals.node } },
  // The dashboard runs in a browser (built by scripts/build-dashboard.mjs).
  { files: ["src/dashboard/**"], languageOptions: { globals: globals.browser } },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
);

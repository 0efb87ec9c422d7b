import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Kernels are real processes; two cores. Files run in parallel, tests within a file in sequence.
    maxWorkers: 2,
    minWorkers: 1,
  },
});

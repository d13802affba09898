import { defineConfig } from 'vitest/config'

// Runs train real models on a 2-core machine: generous timeouts, one file at a time.
export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
})

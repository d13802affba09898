import { defineConfig } from "vite";

// No React plugin: esbuild's automatic JSX runtime is all this UI needs, and it keeps the
// install working on npm 10 (see docs/decisions/0032-ui-build.md).
export default defineConfig({
  esbuild: { jsx: "automatic" },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/ws": { target: "ws://127.0.0.1:8000", ws: true },
    },
  },
  test: { include: ["src/**/*.test.ts"] },
} as any);

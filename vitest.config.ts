import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

// Tests import the packages' sources, so a stale build never hides a change.
const src = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: { alias: { '@posture/core': src('core') } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});

// Runs the YAML decision corpus (test/cases/*.yaml) through the core: one `describe` per file, one
// `it` per request, in order, sharing one state per file (rates, loops and flows are sequential).
import { beforeAll, describe, expect, it } from 'vitest';
import { createMemoryState, decide, type CompiledPolicy } from '@posture/core';
import { compare, loadCompiled } from './cases/compare.js';
import { loadCases } from './cases/load.js';

type State = ReturnType<typeof createMemoryState>;

const MIN_CASES = 80;
const files = loadCases();

describe('decision corpus', () => {
  it(`holds at least ${MIN_CASES} cases`, () => {
    const count = files.reduce((sum, file) => sum + file.requests.length, 0);
    expect(files.length).toBeGreaterThan(0);
    expect(count).toBeGreaterThanOrEqual(MIN_CASES);
  });
});

for (const file of files) {
  describe(file.name, () => {
    let compiled: CompiledPolicy;
    let state: State;

    beforeAll(() => {
      compiled = loadCompiled(file);
      state = createMemoryState();
    });

    file.requests.forEach((c, index) => {
      it(`#${index} ${c.name}`, async () => {
        // Awaited so that the same runner works if a state port makes decide() asynchronous.
        const decision = await decide(c.request, compiled, state, { now: c.at });
        const { actual, wanted } = compare(decision, c.expect);
        const context = `${file.name} requests[${index}] ${c.name}\nrequest: ${JSON.stringify(c.request)}\ndecision: ${JSON.stringify(decision)}`;
        expect(actual, context).toEqual(wanted);
      });
    });
  });
}

import { describe, expect, it } from 'vitest';
import { createMemoryCounters } from '../src/memory/counters.js';
import { defineCountersContract } from './conformance/counters.js';

describe('memory counters', () => {
  defineCountersContract({
    shared: false,
    fresh: async () => ({ open: async (options) => createMemoryCounters(options) }),
  });

  it('forgets the least recently written session beyond `maxSessions`', async () => {
    const counters = createMemoryCounters({ maxSessions: 2 });
    const bump = (id: string) =>
      counters.transact({ session: id, rates: [] }, 1000, (state) => ++state.session(id).calls);
    await bump('a');
    await bump('b');
    await bump('a');
    await bump('c');
    expect(await bump('a')).toBe(3);
    expect(await bump('b')).toBe(1);
    expect(() => createMemoryCounters({ maxSessions: 0 })).toThrow(
      '`maxSessions` must be a positive integer, not `0`',
    );
  });
});

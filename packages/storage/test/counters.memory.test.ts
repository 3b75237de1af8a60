import { describe } from 'vitest';
import { createMemoryCounters } from '../src/memory/counters.js';
import { defineCountersContract } from './conformance/counters.js';

describe('memory counters', () => {
  defineCountersContract({
    shared: false,
    fresh: async () => ({ open: async (options) => createMemoryCounters(options) }),
  });
});

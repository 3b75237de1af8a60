import { describe } from 'vitest';
import { createMemoryInventory } from '../src/memory/inventory.js';
import { defineInventoryContract } from './conformance/inventory.js';

describe('memory inventory', () => {
  defineInventoryContract({
    persistent: false,
    fresh: async () => ({ open: async () => createMemoryInventory() }),
  });
});

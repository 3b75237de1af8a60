import { describe } from 'vitest';
import { createMemoryApprovalQueue, createMemoryExceptionStore } from '../src/memory/approval-queue.js';
import { defineApprovalQueueContract } from './conformance/approval-queue.js';

describe('memory approvals', () => {
  defineApprovalQueueContract({
    persistent: false,
    fresh: async () => ({
      open: async (options) => ({
        queue: createMemoryApprovalQueue(),
        exceptions: createMemoryExceptionStore({ maxDurationMs: options?.maxExceptionMs }),
      }),
    }),
  });
});

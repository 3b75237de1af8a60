import {
  createMemoryAuditLog,
  createMemoryAuditStore,
  type MemoryAuditStore,
} from '../src/memory/audit-log.js';
import type { AuditLogOptions } from '../src/audit/options.js';
import { auditLogContract, type AuditLogTamper } from './conformance/audit-log.js';
import { forgeRecord, rewriteRecord } from './support/forge.js';

function tamperWith(store: MemoryAuditStore): AuditLogTamper {
  const { records } = store;
  return {
    async edit(seq, change, options) {
      const record = records[seq]!;
      const rewritten = rewriteRecord(record.json, change);
      records[seq] = {
        json: rewritten.json,
        leafHash: options?.rehash ? rewritten.leafHash : record.leafHash,
      };
    },
    async delete(seq) {
      records.splice(seq, 1);
    },
    async insert(seq, event) {
      records.splice(seq, 0, forgeRecord(event, seq));
    },
    async swap(a, b) {
      [records[a], records[b]] = [records[b]!, records[a]!];
    },
    async truncate(size) {
      records.length = size;
    },
  };
}

auditLogContract('memory', async (options?: AuditLogOptions) => {
  const store = createMemoryAuditStore();
  const opened: Array<{ close(): Promise<void> }> = [];
  const log = createMemoryAuditLog({ ...options, store });
  opened.push(log);
  return {
    log,
    tamper: tamperWith(store),
    async reopen(again?: AuditLogOptions) {
      const next = createMemoryAuditLog({ ...(again ?? options), store });
      opened.push(next);
      return next;
    },
    rawText: async () => JSON.stringify(store),
    async cleanup() {
      for (const each of opened) await each.close();
    },
  };
});

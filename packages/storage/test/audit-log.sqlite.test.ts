import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditLogOptions } from '../src/audit/options.js';
import { openSqliteAuditLog } from '../src/sqlite/audit-log.js';
import { describe, expect, it } from 'vitest';
import { verifyLog } from '../src/audit/verify.js';
import { auditLogContract, type AuditLogTamper } from './conformance/audit-log.js';
import { sampleEvent } from './support/events.js';
import { forgeRecord, rewriteRecord } from './support/forge.js';

/** Tampering through a second, raw connection to the file, as someone with the file would. */
function tamperWith(file: string): AuditLogTamper {
  const raw = () => new Database(file);
  const run = (change: (db: Database.Database) => void) => {
    const db = raw();
    try {
      db.transaction(() => change(db))();
    } finally {
      db.close();
    }
  };
  return {
    async edit(seq, change, options) {
      run((db) => {
        const row = db.prepare('SELECT json FROM audit_events WHERE seq = ?').get(seq) as { json: string };
        const rewritten = rewriteRecord(row.json, change);
        db.prepare('UPDATE audit_events SET json = ? WHERE seq = ?').run(rewritten.json, seq);
        if (options?.rehash) {
          db.prepare('UPDATE audit_events SET leaf_hash = ? WHERE seq = ?').run(
            Buffer.from(rewritten.leafHash, 'hex'),
            seq,
          );
        }
      });
    },
    async delete(seq) {
      run((db) => db.prepare('DELETE FROM audit_events WHERE seq = ?').run(seq));
    },
    async insert(seq, event) {
      run((db) => {
        // Move the rows from seq on down one position (via negatives: seq is the primary key).
        db.prepare('UPDATE audit_events SET seq = -seq - 1 WHERE seq >= ?').run(seq);
        db.prepare('UPDATE audit_events SET seq = -seq WHERE seq < 0').run();
        const forged = forgeRecord(event, seq);
        db.prepare('INSERT INTO audit_events (seq, time, kind, json, leaf_hash) VALUES (?, ?, ?, ?, ?)').run(
          seq,
          event.time,
          event.kind,
          forged.json,
          Buffer.from(forged.leafHash, 'hex'),
        );
      });
    },
    async swap(a, b) {
      run((db) => {
        const move = db.prepare('UPDATE audit_events SET seq = ? WHERE seq = ?');
        move.run(-1, a);
        move.run(a, b);
        move.run(b, -1);
      });
    },
    async truncate(size) {
      run((db) => db.prepare('DELETE FROM audit_events WHERE seq >= ?').run(size));
    },
  };
}

auditLogContract('sqlite', async (options?: AuditLogOptions) => {
  const dir = mkdtempSync(join(tmpdir(), 'posture-audit-'));
  const path = join(dir, 'posture.db');
  const opened: Array<{ close(): Promise<void> }> = [];
  const log = await openSqliteAuditLog({ ...options, path });
  opened.push(log);
  return {
    log,
    tamper: tamperWith(path),
    async reopen(again?: AuditLogOptions) {
      const next = await openSqliteAuditLog({ ...(again ?? options), path });
      opened.push(next);
      return next;
    },
    // The database file and its write-ahead log, byte for byte.
    rawText: async () =>
      [path, `${path}-wal`]
        .filter((file) => existsSync(file))
        .map((file) => readFileSync(file, 'latin1'))
        .join('\n'),
    async cleanup() {
      for (const each of opened) await each.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('a read-only SQLite log', () => {
  it('reads and verifies with the public key alone, and refuses to write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'posture-audit-ro-'));
    try {
      const path = join(dir, 'posture.db');
      const log = await openSqliteAuditLog({ path });
      for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
      await log.close();
      // An auditor's copy: the verifier key beside the database, no signer key.
      rmSync(join(dir, 'audit.key'));
      const reader = await openSqliteAuditLog({ path, readOnly: true });
      try {
        expect(reader.verifierKey).toBe(readFileSync(join(dir, 'audit.pub'), 'utf8').trim());
        expect(await reader.size()).toBe(5);
        expect((await reader.search({ user: 'bob' })).map((e) => e.seq)).toEqual([1, 3]);
        const notes = (await reader.checkpoints()).map((c) => c.note);
        expect(await verifyLog(reader.entries(), notes, [reader.verifierKey])).toEqual({
          ok: true,
          checked: 5,
          covered: 5,
        });
        await expect(reader.append(sampleEvent(5))).rejects.toThrow(
          `audit log \`${path}\` is open read-only`,
        );
        await expect(reader.checkpoint()).rejects.toThrow('is open read-only');
      } finally {
        await reader.close();
      }
      expect(existsSync(join(dir, 'audit.key'))).toBe(false);
      const missing = join(dir, 'none.db');
      await expect(openSqliteAuditLog({ path: missing, readOnly: true })).rejects.toThrow(
        `no audit database \`${missing}\``,
      );
      expect(existsSync(missing)).toBe(false);
      new Database(join(dir, 'other.db')).close();
      await expect(openSqliteAuditLog({ path: join(dir, 'other.db'), readOnly: true })).rejects.toThrow(
        'holds no audit log',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditLogOptions } from '../src/audit/options.js';
import { openSqliteAuditLog } from '../src/sqlite/audit-log.js';
import { auditLogContract, type AuditLogTamper } from './conformance/audit-log.js';
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

// Calls recorded before they run (`AuditLog.begin`): the record is committed and flushed before its
// event exists, the event replaces it, and a record left behind by a process that stopped (or a
// log closed while the call ran) becomes the call's one `interrupted` event.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryAuditLog, createMemoryAuditStore } from '../src/memory/audit-log.js';
import { openSqliteAuditLog } from '../src/sqlite/audit-log.js';
import { verifyLog } from '../src/audit/verify.js';
import type { AuditEvent } from '../src/ports.js';
import { exited, onLines, spawnWriter } from './support/child.js';
import { sampleEvent } from './support/events.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function database(): string {
  const dir = mkdtempSync(join(tmpdir(), 'posture-pending-'));
  dirs.push(dir);
  return join(dir, 'posture.db');
}

/** A call as it is recorded before it runs: no outcome yet. */
function intent(n: number): AuditEvent {
  return sampleEvent(n, { session: 'crashed', outcome: undefined, latency_ms: undefined });
}

function pendingRows(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) FROM audit_pending').pluck().get() as number) ?? 0;
  } finally {
    db.close();
  }
}

/** Starts a writer that records `count` calls before they run and then waits, never ending them. */
async function beginInChild(path: string, count: number) {
  const child = spawnWriter([path, 'begin', String(count)]);
  const done = exited(child);
  await new Promise<void>((resolve, reject) => {
    onLines(child, (line) => {
      if (line === 'begun') resolve();
    });
    void done.then(({ stderr }) => reject(new Error(`the writer stopped: ${stderr}`)));
  });
  return { child, done };
}

describe('calls recorded before they run (SQLite)', () => {
  it('keep a committed record until their event replaces it, in one transaction', async () => {
    const path = database();
    const log = await openSqliteAuditLog({ path });
    try {
      const open = await log.begin!(intent(0));
      await open.durable;
      expect(pendingRows(path)).toBe(1);
      expect(await log.size()).toBe(0);
      const stored = await log.append(sampleEvent(0, { session: 'crashed' }), { settles: open });
      expect(stored).toMatchObject({ seq: 0, outcome: 'allowed' });
      expect(pendingRows(path)).toBe(0);
      expect(await log.size()).toBe(1);
    } finally {
      await log.close();
    }
  });

  it('become `interrupted` events when the process that recorded them is killed, once', async () => {
    const path = database();
    const { child, done } = await beginInChild(path, 3);
    // While the writer lives, a log opened elsewhere leaves its calls alone: they may still end.
    const meanwhile = await openSqliteAuditLog({ path });
    expect(await meanwhile.size()).toBe(0);
    await meanwhile.close();
    expect(pendingRows(path)).toBe(3);

    child.kill('SIGKILL');
    expect((await done).signal).toBe('SIGKILL');
    const log = await openSqliteAuditLog({ path });
    try {
      const events = await log.read(0, await log.size());
      expect(events).toHaveLength(3);
      for (const [n, event] of events.entries()) {
        const { outcome: _, latency_ms: __, ...recorded } = sampleEvent(n);
        expect(event).toEqual({
          ...recorded,
          session: 'crashed',
          seq: n,
          outcome: 'interrupted',
          detail: {
            error:
              'the process that recorded this call stopped while the call ran: whether it completed is unknown',
          },
        });
      }
      expect(pendingRows(path)).toBe(0);
      await log.checkpoint();
      const notes = (await log.checkpoints()).map((c) => c.note);
      expect(await verifyLog(log.entries(), notes, [log.verifierKey])).toMatchObject({
        ok: true,
        checked: 3,
      });
    } finally {
      await log.close();
    }
    // Opening again finds nothing more to recover.
    const again = await openSqliteAuditLog({ path });
    expect(await again.size()).toBe(3);
    await again.close();
  });

  it('end `interrupted` when the log is closed while they run; their event then cannot be written', async () => {
    const path = database();
    const log = await openSqliteAuditLog({ path });
    const open = await log.begin!(intent(2));
    await log.close();
    await expect(log.append(sampleEvent(2), { settles: open })).rejects.toThrow(/closed/);
    const reopened = await openSqliteAuditLog({ path });
    try {
      const events = await reopened.read(0, await reopened.size());
      expect(events.map((e) => [e.tool, e.outcome])).toEqual([['payments/refund', 'interrupted']]);
      expect(pendingRows(path)).toBe(0);
    } finally {
      await reopened.close();
    }
  });

  it('many at once end in order, each with its own event, and leave no record behind', async () => {
    const path = database();
    const log = await openSqliteAuditLog({ path });
    try {
      const opens = await Promise.all([0, 1, 2, 3].map((n) => log.begin!(intent(n))));
      const stored = await Promise.all(
        opens.map((open, n) => log.append(sampleEvent(n, { session: 'crashed' }), { settles: open })),
      );
      expect(stored.map((e) => e.seq)).toEqual([0, 1, 2, 3]);
      expect(pendingRows(path)).toBe(0);
    } finally {
      await log.close();
    }
  });
});

describe('calls recorded before they run (memory)', () => {
  it('end `interrupted` when their store is reopened by another log, or their log closes', async () => {
    const store = createMemoryAuditStore();
    const first = createMemoryAuditLog({ store });
    const settled = await first.begin!(intent(0));
    await first.append(sampleEvent(0), { settles: settled });
    await first.begin!(intent(1));
    // The first log is abandoned with a call open, as a crashed process leaves it.
    const second = createMemoryAuditLog({ store });
    const events = await second.read(0, await second.size());
    expect(events.map((e) => [e.seq, e.outcome])).toEqual([
      [0, 'allowed'],
      [1, 'interrupted'],
    ]);
    await second.begin!(intent(2));
    await second.close();
    const third = createMemoryAuditLog({ store });
    expect((await third.read(2, 3)).map((e) => e.outcome)).toEqual(['interrupted']);
    expect(store.pending?.size).toBe(0);
  });
});

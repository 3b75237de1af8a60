// SQLite-specific faults: damaged files, failed and locked writes, a newer schema, the key file, and
// two processes writing one file.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyLog } from '../src/audit/verify.js';
import { openSqliteAuditLog, type SqliteAuditLog } from '../src/sqlite/audit-log.js';
import { MIGRATIONS } from '../src/sqlite/migrations.js';
import { exited, onLines, spawnWriter } from './support/child.js';
import { sampleEvent } from './support/events.js';

const dirs: string[] = [];
const logs: SqliteAuditLog[] = [];
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'posture-faults-'));
  dirs.push(dir);
  return dir;
}

async function open(
  path: string,
  options: Parameters<typeof openSqliteAuditLog>[0] = {},
): Promise<SqliteAuditLog> {
  const log = await openSqliteAuditLog({ ...options, path });
  logs.push(log);
  return log;
}

async function verifyStore(log: SqliteAuditLog) {
  return verifyLog(
    log.entries(),
    (await log.checkpoints()).map((c) => c.note),
    [log.verifierKey],
  );
}

describe('a damaged database file', () => {
  it('of random bytes: a clear error naming the file, and the file left as it was', async () => {
    const path = join(tempDir(), 'posture.db');
    const bytes = randomBytes(8192);
    writeFileSync(path, bytes);
    await expect(openSqliteAuditLog({ path })).rejects.toThrow(
      `audit database \`${path}\` is damaged: it is not an SQLite database`,
    );
    expect(readFileSync(path)).toEqual(bytes);
  });

  it('cut short in a checkpoint (its header counts pages only the WAL holds yet): opens, every event kept', async () => {
    // A crash image: the files of a log that is still open, everything acknowledged on disk.
    const live = join(tempDir(), 'posture.db');
    const log = await openSqliteAuditLog({ path: live });
    for (let i = 0; i < 40; i++) await log.append(sampleEvent(i));
    const dir = tempDir();
    const path = join(dir, 'posture.db');
    copyFileSync(live, path);
    copyFileSync(`${live}-wal`, `${path}-wal`);
    await log.close();
    // The checkpoint that was cut short had written page 1 (the header with the new page count)
    // from the WAL and no page after it.
    const wal = readFileSync(`${path}-wal`);
    const pageSize = wal.readUInt32BE(8);
    let page1: Buffer | undefined;
    for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
      if (wal.readUInt32BE(at) === 1) page1 = wal.subarray(at + 24, at + 24 + pageSize);
    }
    expect(page1).toBeDefined();
    const db = readFileSync(path);
    expect(page1!.readUInt32BE(28)).toBeGreaterThan(db.length / pageSize);
    page1!.copy(db, 0);
    writeFileSync(path, db);

    const reopened = await openSqliteAuditLog({ path });
    logs.push(reopened);
    expect(await reopened.size()).toBe(40);
    expect((await reopened.read(0, 40)).map((e) => e.args)).toEqual(
      Array.from({ length: 40 }, (_, i) => sampleEvent(i).args),
    );
    await reopened.checkpoint();
    expect(await verifyStore(reopened)).toMatchObject({ ok: true, checked: 40 });
  });

  it('truncated: a clear error naming the file, never a new log in its place', async () => {
    const path = join(tempDir(), 'posture.db');
    const log = await openSqliteAuditLog({ path });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => log.append(sampleEvent(i))));
    await log.close();
    const size = statSync(path).size;
    truncateSync(path, size / 2 - ((size / 2) % 4096));
    await expect(openSqliteAuditLog({ path })).rejects.toThrow(
      new RegExp(`audit database \`${path}\` is damaged: it is truncated`),
    );
    truncateSync(path, 5000);
    await expect(openSqliteAuditLog({ path })).rejects.toThrow(/is damaged: its size \(`5000` bytes\)/);
    truncateSync(path, 50);
    await expect(openSqliteAuditLog({ path })).rejects.toThrow(/is damaged: it is not an SQLite database/);
    expect(statSync(path).size).toBe(50);
  });

  it('with a damaged page: SQLite’s own error names the file', async () => {
    const path = join(tempDir(), 'posture.db');
    const log = await openSqliteAuditLog({ path });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => log.append(sampleEvent(i))));
    await log.close();
    const bytes = readFileSync(path);
    // Keep page 1 (the schema); scramble every other page.
    randomBytes(bytes.length - 4096).copy(bytes, 4096);
    writeFileSync(path, bytes);
    const reopened = await openSqliteAuditLog({ path }).catch((error: Error) => error);
    if (reopened instanceof Error) {
      expect(reopened.message).toContain(`audit database \`${path}\``);
    } else {
      logs.push(reopened);
      await expect(reopened.append(sampleEvent(0))).rejects.toThrow(`audit database \`${path}\` is damaged`);
    }
  });
});

describe('failed writes fail closed', () => {
  it('a batch whose write fails is rejected for every caller and leaves nothing behind', async () => {
    const path = join(tempDir(), 'posture.db');
    const log = await open(path);
    for (let i = 0; i < 3; i++) await log.append(sampleEvent(i));
    const raw = new Database(path);
    // A write that fails halfway through the batch, as a full disk or an I/O error would.
    raw.exec(`CREATE TRIGGER fail_write BEFORE INSERT ON audit_events WHEN NEW.tool = 'disk/full'
              BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    const batch = [3, 4, 5, 6, 7].map((i) =>
      log.append(sampleEvent(i, i === 5 ? { tool: 'disk/full' } : {})),
    );
    const results = await Promise.allSettled(batch);
    expect(results.map((r) => r.status)).toEqual(Array(5).fill('rejected'));
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(
      new RegExp(
        `audit log \`${path}\`: writing a batch of \`5\` events failed and nothing of it was kept: database or disk is full`,
      ),
    );
    expect(await log.size()).toBe(3);
    expect(raw.prepare('SELECT count(*) FROM audit_events').pluck().get()).toBe(3);
    raw.exec('DROP TRIGGER fail_write');
    raw.close();
    expect((await log.append(sampleEvent(8))).seq).toBe(3);
    await log.checkpoint();
    expect(await verifyStore(log)).toEqual({ ok: true, checked: 4, covered: 4 });
  });

  it('a write lock held too long by another connection rejects the batch, then the log goes on', async () => {
    const path = join(tempDir(), 'posture.db');
    const log = await open(path, { busyTimeoutMs: 50 });
    await log.append(sampleEvent(0));
    const raw = new Database(path);
    raw.exec('BEGIN IMMEDIATE');
    await expect(Promise.all([log.append(sampleEvent(1)), log.append(sampleEvent(2))])).rejects.toThrow(
      /database is locked/,
    );
    raw.exec('ROLLBACK');
    raw.close();
    expect((await log.append(sampleEvent(3))).seq).toBe(1);
  });
});

describe('schema and keys', () => {
  it('runs its migrations once, and refuses a database from a newer Posture', async () => {
    const path = join(tempDir(), 'posture.db');
    (await open(path)).close();
    const raw = new Database(path);
    expect(raw.prepare("SELECT version FROM migrations WHERE component = 'audit'").pluck().all()).toEqual(
      MIGRATIONS.map((m) => m.version),
    );
    raw.prepare("INSERT INTO migrations VALUES ('audit', 99, 'from the future', '2030-01-01')").run();
    raw.close();
    await expect(openSqliteAuditLog({ path })).rejects.toThrow(
      `audit database \`${path}\` has audit schema version \`99\`, newer than this Posture knows (\`${MIGRATIONS.at(-1)!.version}\`)`,
    );
  });

  it('creates the signer key beside the database, readable by its owner only, with the verifier key', async () => {
    const dir = tempDir();
    const log = await open(join(dir, 'posture.db'));
    const keyFile = join(dir, 'audit.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'audit.pub'), 'utf8').trim()).toBe(log.verifierKey);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^PRIVATE\+KEY\+posture\.local\/audit\/[0-9a-f]{12}\+/);
    expect(log.origin).toMatch(/^posture\.local\/audit\/[0-9a-f]{12}$/);
  });

  it('refuses a signer key file that others can read', async () => {
    const dir = tempDir();
    await (await openSqliteAuditLog({ path: join(dir, 'posture.db') })).close();
    const keyFile = join(dir, 'audit.key');
    writeFileSync(keyFile, readFileSync(keyFile), { mode: 0o644 });
    const { chmodSync } = await import('node:fs');
    chmodSync(keyFile, 0o644);
    await expect(openSqliteAuditLog({ path: join(dir, 'posture.db') })).rejects.toThrow(
      `signer key file \`${keyFile}\` is readable by other users (mode \`644\`)`,
    );
  });

  it('creates the database folder when it is missing, and no file when given a key', async () => {
    const dir = tempDir();
    const path = join(dir, 'nested', '.posture', 'posture.db');
    const log = await open(path, { origin: 'example.com/log', signerKey: undefined });
    expect(existsSync(path)).toBe(true);
    expect(log.origin).toBe('example.com/log');
  });
});

describe('two processes on one file', () => {
  it('both write; seqs are never assigned twice, and the log verifies', async () => {
    const path = join(tempDir(), 'posture.db');
    const log = await open(path, { checkpointEvery: { events: 100 } });
    const child = spawnWriter([path, 'append', '100', '16', 'child']);
    const done = exited(child);
    let childState: 'starting' | 'appending' | 'done' = 'starting';
    const ready = new Promise<void>((resolve) =>
      onLines(child, (line) => {
        if (line === 'ready') {
          childState = 'appending';
          resolve();
        } else if (line === 'done') childState = 'done';
      }),
    );
    await ready;
    // Append from this process for as long as the child does, and at least 400 times. (SQLite's lock
    // is not fair: a busy writer polls with backoff, so the child's batches wait for gaps in ours.)
    let mine = 0;
    const worker = async () => {
      while (childState !== 'done' || mine < 400) {
        mine++;
        await log.append(sampleEvent(mine, { session: 'parent' }));
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const { code, stderr } = await done;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    await log.checkpoint();

    const total = 100 + mine;
    expect(await log.size()).toBe(total);
    const events = await log.read(0, total);
    expect(events.map((e) => e.seq)).toEqual([...Array(total).keys()]);
    expect(events.filter((e) => e.session === 'child')).toHaveLength(100);
    expect(events.filter((e) => e.session === 'parent')).toHaveLength(mine);
    // The two wrote at the same time: the child's events lie between this process's events.
    const switches = events.filter((e, i) => i > 0 && e.session !== events[i - 1]!.session).length;
    expect(switches).toBeGreaterThanOrEqual(2);
    // Checkpoints signed by either process all describe one history.
    const checkpoints = await log.checkpoints();
    expect(checkpoints.length).toBeGreaterThan(2);
    expect(await verifyStore(log)).toEqual({ ok: true, checked: total, covered: total });
  });
});

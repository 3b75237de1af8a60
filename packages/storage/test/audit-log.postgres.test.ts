// The audit-log contract on PostgreSQL, each log in a schema of its own made for it and dropped
// after; then what only a server can do: two processes appending to one log, and connections
// terminated under load. Needs a server (POSTGRES_URL, default the local one); without one the
// suite is skipped with the reason printed, except in CI, where it fails.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AuditLogOptions } from '../src/audit/options.js';
import { verifyLog } from '../src/audit/verify.js';
import { openPostgresAuditLog, type PostgresAuditLog } from '../src/postgres/audit-log.js';
import { MIGRATIONS } from '../src/postgres/migrations.js';
import type { AuditLog } from '../src/ports.js';
import { auditLogContract, type AuditLogTamper } from './conformance/audit-log.js';
import { exited, onLines, spawnWriter } from './support/child.js';
import { sampleEvent } from './support/events.js';
import { tcpProxy } from './support/tcp-proxy.js';
import { forgeRecord, rewriteRecord } from './support/forge.js';
import { POSTGRES_URL, postgres } from './support/services.js';

const { problem, skip } = await postgres('audit log');

const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
admin.on('error', () => {});
afterAll(() => admin.end());

/** A schema, a key folder and a pool config of their own, for one log; `drop()` removes them. */
async function freshPlace() {
  if (problem !== undefined) throw new Error(`cannot reach PostgreSQL at ${POSTGRES_URL}: ${problem}`);
  const schema = `posture_audit_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  const dir = mkdtempSync(join(tmpdir(), 'posture-audit-pg-'));
  const config: pg.PoolConfig = {
    connectionString: POSTGRES_URL,
    options: `-c search_path=${schema}`,
    application_name: schema,
  };
  return {
    schema,
    config,
    keyFile: join(dir, 'audit.key'),
    async drop() {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function tamperWith(schema: string): AuditLogTamper {
  const events = `${schema}.posture_audit_events`;
  const run = async (change: (client: pg.PoolClient) => Promise<void>) => {
    const client = await admin.connect();
    try {
      await client.query('BEGIN');
      await change(client);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  };
  return {
    edit: (seq, change, options) =>
      run(async (client) => {
        const { rows } = await client.query<{ json: string }>(`SELECT json FROM ${events} WHERE seq = $1`, [
          seq,
        ]);
        const rewritten = rewriteRecord(rows[0]!.json, change);
        await client.query(`UPDATE ${events} SET json = $1 WHERE seq = $2`, [rewritten.json, seq]);
        if (options?.rehash) {
          await client.query(`UPDATE ${events} SET leaf_hash = $1 WHERE seq = $2`, [
            Buffer.from(rewritten.leafHash, 'hex'),
            seq,
          ]);
        }
      }),
    delete: (seq) =>
      run(async (client) => {
        await client.query(`DELETE FROM ${events} WHERE seq = $1`, [seq]);
      }),
    insert: (seq, event) =>
      run(async (client) => {
        await client.query(`UPDATE ${events} SET seq = -seq - 1 WHERE seq >= $1`, [seq]);
        await client.query(`UPDATE ${events} SET seq = -seq WHERE seq < 0`);
        const forged = forgeRecord(event, seq);
        await client.query(
          `INSERT INTO ${events} (seq, time, kind, json, leaf_hash) VALUES ($1, $2, $3, $4, $5)`,
          [seq, event.time, event.kind, forged.json, Buffer.from(forged.leafHash, 'hex')],
        );
      }),
    swap: (a, b) =>
      run(async (client) => {
        const move = `UPDATE ${events} SET seq = $1 WHERE seq = $2`;
        await client.query(move, [-1, a]);
        await client.query(move, [a, b]);
        await client.query(move, [b, -1]);
      }),
    truncate: (size) =>
      run(async (client) => {
        await client.query(`DELETE FROM ${events} WHERE seq >= $1`, [size]);
      }),
  };
}

function proxied(port: number): string {
  const url = new URL(POSTGRES_URL);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return url.href;
}

async function verifyStore(log: AuditLog) {
  const notes = (await log.checkpoints()).map((c) => c.note);
  return verifyLog(log.entries(), notes, [log.verifierKey]);
}

describe.skipIf(skip)('postgres audit log', () => {
  auditLogContract('postgres', async (options?: AuditLogOptions) => {
    const place = await freshPlace();
    const opened: AuditLog[] = [];
    const open = async (again?: AuditLogOptions) => {
      const log = await openPostgresAuditLog({ ...again, config: place.config, keyFile: place.keyFile });
      opened.push(log);
      return log;
    };
    const log = await open(options);
    return {
      log,
      tamper: tamperWith(place.schema),
      reopen: (again?: AuditLogOptions) => open(again ?? options),
      async rawText() {
        const tables = [
          'posture_audit_events',
          'posture_audit_meta',
          'posture_audit_checkpoints',
          'posture_audit_head',
        ];
        const texts = await Promise.all(
          tables.map(async (table) => {
            const { rows } = await admin.query(`SELECT t::text AS row FROM ${place.schema}.${table} t`);
            return rows.map((r: { row: string }) => r.row).join('\n');
          }),
        );
        return texts.join('\n');
      },
      async cleanup() {
        for (const each of opened) await each.close();
        await place.drop();
      },
    };
  });

  const places: Array<{ drop(): Promise<void> }> = [];
  const logs: PostgresAuditLog[] = [];
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close().catch(() => undefined);
    for (const place of places.splice(0)) await place.drop();
  });
  const place = async () => {
    const p = await freshPlace();
    places.push(p);
    return p;
  };
  const open = async (options: Parameters<typeof openPostgresAuditLog>[0]) => {
    const log = await openPostgresAuditLog(options);
    logs.push(log);
    return log;
  };

  it('keeps its schema version in a table of its own', async () => {
    const { schema, config, keyFile } = await place();
    await open({ config, keyFile });
    const { rows } = await admin.query(`SELECT version FROM ${schema}.posture_audit_schema`);
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
  });

  it('refuses a newer schema and a different signer key, naming what is wrong', async () => {
    const { schema, config, keyFile } = await place();
    await (await openPostgresAuditLog({ config, keyFile })).close();
    const other = join(mkdtempSync(join(tmpdir(), 'posture-audit-pg-key-')), 'other.key');
    await expect(openPostgresAuditLog({ config, keyFile: other })).rejects.toThrow(
      /^cannot open audit log on postgresql: audit log `[^`]+` is signed with key `[^`]+`, but the signer key given verifies as/,
    );
    rmSync(join(other, '..'), { recursive: true, force: true });
    await admin.query(`INSERT INTO ${schema}.posture_audit_schema VALUES (99, 'future', now())`);
    await expect(openPostgresAuditLog({ config, keyFile })).rejects.toThrow(
      'cannot open audit log on postgresql: audit schema version `99` is newer than this Posture knows (`1`): upgrade Posture',
    );
  });

  it('says what failed when the server cannot be reached', async () => {
    await expect(
      openPostgresAuditLog({
        config: { connectionString: 'postgres://postgres@127.0.0.1:1/none' },
        signerKey: undefined,
      }),
    ).rejects.toThrow(/^cannot open audit log on postgresql: /);
  });

  it('stores and finds values PostgreSQL text cannot hold (NUL, lone surrogates) and separators', async () => {
    const { config, keyFile } = await place();
    const log = await open({ config, keyFile });
    const odd = 'bad\u0000user\uD800';
    const stored = await Promise.all([
      log.append(sampleEvent(0, { actor: { user: odd, agent: 'a' } })),
      // U+001E separates the events' JSON texts on the way to the server: JSON escapes it.
      log.append(sampleEvent(1, { args: { sep: 'a\u001eb\u001e' }, tool: 'x/\u001e' })),
    ]);
    expect(await log.read(0, 2)).toEqual(stored);
    expect(stored[1]!.args).toEqual({ sep: 'a\u001eb\u001e' });
    expect((await log.search({ tool: 'x/\u001e' })).map((e) => e.seq)).toEqual([1]);
    expect((await log.search({ user: odd })).map((e) => e.seq)).toEqual([0]);
    await log.checkpoint();
    expect(await verifyStore(log)).toMatchObject({ ok: true, checked: 2 });
  });

  it('two processes appending at once: every event once, seqs without gaps, one tree', async () => {
    const { schema, config, keyFile } = await place();
    // The parent makes the log (and its key); the children open it.
    await (await openPostgresAuditLog({ config, keyFile })).close();
    const store = JSON.stringify({ postgres: config, keyFile });
    const children = ['a', 'b'].map((tag) => {
      const child = spawnWriter([store, 'append', '1500', '32', tag, 'go']);
      const lines: string[] = [];
      const ready = new Promise<void>((resolve) =>
        onLines(child, (line) => {
          lines.push(line);
          if (line === 'ready') resolve();
        }),
      );
      return { child, lines, ready, done: exited(child) };
    });
    // Both are connected and waiting: start them together.
    await Promise.all(children.map((c) => c.ready));
    for (const { child } of children) child.stdin.end('go\n');
    for (const { done, lines } of children) {
      const { code, stderr } = await done;
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(lines).toEqual(['ready', 'done']);
    }
    const log = await open({ config, keyFile });
    expect(await log.size()).toBe(3000);
    const events = await log.read(0, 3000);
    expect(events.map((e) => e.seq)).toEqual([...Array(3000).keys()]);
    for (const tag of ['a', 'b']) {
      const mine = events.filter((e) => e.session === tag).map((e) => (e.args as { n: number }).n);
      expect(mine.sort((x, y) => x - y)).toEqual([...Array(1500).keys()]);
    }
    // Both wrote interleaved batches, not one after the other.
    const switches = events.filter((e, i) => i > 0 && e.session !== events[i - 1]!.session).length;
    expect(switches).toBeGreaterThan(1);
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.posture_audit_checkpoints`);
    expect(rows[0].n).toBeGreaterThanOrEqual(2);
    expect(await verifyStore(log)).toEqual({ ok: true, checked: 3000, covered: 3000 });
  });

  it('reconnects when its connections are terminated under load: nothing lost, nothing twice', async () => {
    const { schema, config, keyFile } = await place();
    const log = await open({ config: { ...config, max: 4 }, keyFile, checkpointEvery: { events: 500 } });
    const acknowledged = new Map<number, number>();
    let next = 0;
    let failures = 0;
    let running = true;
    const worker = async () => {
      while (running) {
        const n = next++;
        try {
          const stored = await log.append(sampleEvent(n));
          acknowledged.set(stored.seq, n);
        } catch {
          failures++;
        }
      }
    };
    const workers = Array.from({ length: 64 }, worker);
    const terminate = async () => {
      const { rows } = await admin.query<{ killed: boolean }>(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
         WHERE application_name = $1 AND pid <> pg_backend_pid()`,
        [schema],
      );
      return rows.filter((row) => row.killed).length;
    };
    let killed = 0;
    for (let round = 0; round < 5; round++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      killed += await terminate();
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    running = false;
    await Promise.all(workers);
    expect(killed).toBeGreaterThanOrEqual(3);
    expect(failures).toBe(0);
    expect(acknowledged.size).toBe(next);
    expect(acknowledged.size).toBeGreaterThan(1000);

    const size = await log.size();
    expect(size).toBe(acknowledged.size);
    const events = await log.read(0, size);
    expect(events.map((e) => e.seq)).toEqual([...Array(size).keys()]);
    for (const [seq, n] of acknowledged) expect(events[seq]).toEqual({ ...sampleEvent(n), seq });
    await log.checkpoint();
    expect(await verifyStore(log)).toEqual({ ok: true, checked: size, covered: size });
  });

  it('fails appends closed while the server is away past the retry time, and recovers after', async () => {
    const { config, keyFile } = await place();
    const proxy = await tcpProxy(new URL(POSTGRES_URL));
    try {
      const log = await open({
        // The URL wins over host and port fields in pg: point the URL itself at the proxy.
        config: { ...config, connectionString: proxied(proxy.port) },
        keyFile,
        retryForMs: 300,
      });
      await log.append(sampleEvent(0));
      proxy.down();
      const failed = await Promise.allSettled([log.append(sampleEvent(1)), log.append(sampleEvent(2))]);
      expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect(String((failed[0] as PromiseRejectedResult).reason)).toMatch(
        // The connection may have broken with the batch sent, so the log cannot promise it was not kept.
        /^Error: audit log `[^`]+`: writing a batch of `2` events failed (and nothing of it was kept|after the connection broke, so the server may have kept it): /,
      );
      proxy.up();
      expect((await log.append(sampleEvent(3))).seq).toBe(1);
      expect((await log.read(0, 9)).map((e) => (e.args as { n: number }).n)).toEqual([0, 3]);
      await log.checkpoint();
      expect(await verifyStore(log)).toEqual({ ok: true, checked: 2, covered: 2 });
    } finally {
      await proxy.close();
    }
  });

  it('a connection lost after the batch was sent: the retry finds it kept and writes nothing twice', async () => {
    const { schema, config, keyFile } = await place();
    const proxy = await tcpProxy(new URL(POSTGRES_URL));
    try {
      const log = await open({ config: { ...config, connectionString: proxied(proxy.port) }, keyFile });
      await log.append(sampleEvent(0));
      // The batch statement reaches the server, which commits it; its answer never comes back.
      const cut = proxy.cutAfter('posture_audit_write_batch');
      const stored = await Promise.all([1, 2, 3].map((n) => log.append(sampleEvent(n))));
      await cut;
      expect(stored.map((e) => e.seq)).toEqual([1, 2, 3]);
      const { rows } = await admin.query<{ count: number }>(
        `SELECT count::int FROM ${schema}.posture_audit_batches ORDER BY first_seq`,
      );
      // Two batches, each kept once: the retry saw the second one committed.
      expect(rows).toEqual([{ count: 1 }, { count: 3 }]);
      expect((await log.read(0, 9)).map((e) => (e.args as { n: number }).n)).toEqual([0, 1, 2, 3]);
      expect((await log.append(sampleEvent(4))).seq).toBe(4);
      await log.checkpoint();
      expect(await verifyStore(log)).toEqual({ ok: true, checked: 5, covered: 5 });
    } finally {
      await proxy.close();
    }
  });

  it('opens read-only with the public key alone, refuses to write, and needs a log to be there', async () => {
    const { schema, config, keyFile } = await place();
    await expect(openPostgresAuditLog({ config, readOnly: true })).rejects.toThrow(
      'cannot open audit log on postgresql: the database holds no audit log',
    );
    const log = await openPostgresAuditLog({ config, keyFile });
    for (let i = 0; i < 4; i++) await log.append(sampleEvent(i));
    await log.close();
    const verifierKey = readFileSync(keyFile.replace(/\.key$/, '.pub'), 'utf8').trim();
    rmSync(keyFile);
    const reader = await open({ config, keyFile, readOnly: true });
    expect(reader.verifierKey).toBe(verifierKey);
    const notes = (await reader.checkpoints()).map((c) => c.note);
    expect(await verifyLog(reader.entries(), notes, [verifierKey])).toEqual({
      ok: true,
      checked: 4,
      covered: 4,
    });
    await expect(reader.append(sampleEvent(4))).rejects.toThrow('is open read-only');
    // It wrote nothing: no key file, no new rows.
    expect(existsSync(keyFile)).toBe(false);
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.posture_audit_events`);
    expect(rows[0].n).toBe(4);
  });

  it('keeps every acknowledged event when a writer process is killed under load', async () => {
    const { config, keyFile } = await place();
    await (await openPostgresAuditLog({ config, keyFile })).close();
    const child = spawnWriter([JSON.stringify({ postgres: config, keyFile }), 'load', '64']);
    const done = exited(child);
    const acknowledged = new Map<number, number>();
    onLines(child, (line) => {
      if (line === 'ready') {
        setTimeout(() => child.kill('SIGKILL'), 1000);
        return;
      }
      const [seq, n] = line.split(' ').map(Number) as [number, number];
      acknowledged.set(seq, n);
    });
    const { signal, stderr } = await done;
    expect(stderr).toBe('');
    expect(signal).toBe('SIGKILL');
    expect(acknowledged.size).toBeGreaterThan(500);
    const log = await open({ config, keyFile });
    const size = await log.size();
    expect(size).toBeGreaterThan(Math.max(...acknowledged.keys()));
    const events = await log.read(0, size);
    expect(events.map((e) => e.seq)).toEqual([...Array(size).keys()]);
    for (const [seq, n] of acknowledged) expect(events[seq]).toEqual({ ...sampleEvent(n), seq });
    await log.checkpoint();
    expect(await verifyStore(log)).toEqual({ ok: true, checked: size, covered: size });
  });
});

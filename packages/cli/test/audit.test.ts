// `posture audit`: against real SQLite stores in a temporary folder, as the gateway leaves them, and
// tampered with through a raw connection to the file, as someone with the file would.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  generateSignerKey,
  openPostgresAuditLog,
  openSqliteAuditLog,
  signCheckpoint,
  storedEventLeaf,
  storedEventText,
  type AuditEvent,
  type StoredEvent,
} from '@posture/storage';
import { main } from '../src/main.js';
import { fakeIo } from './fake-io.js';

const folder = mkdtempSync(join(tmpdir(), 'posture-cli-audit-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

let dir: string;
let db: string;
let stores = 0;
beforeEach(() => {
  dir = join(folder, `store-${stores++}`);
  mkdirSync(dir);
  db = join(dir, 'posture.db');
});

const AGENTS = ['support-bot', 'ops-bot'];
const TOOLS = ['tickets/get_ticket', 'payments/refund', 'files/read'];
const DECISIONS = ['allow', 'deny', 'approve'] as const;
const OUTCOMES = ['allowed', 'denied', 'pending'] as const;

function event(i: number, overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    time: new Date(Date.UTC(2025, 5, 2, 9, 0, 0) + i * 60_000).toISOString(),
    kind: 'call',
    actor: { user: i % 2 === 0 ? 'alice' : 'bob', agent: AGENTS[i % 2]!, tool_identity: 'svc-posture' },
    session: `s-${Math.floor(i / 4)}`,
    tool: TOOLS[i % 3]!,
    access: 'read',
    tier: 1,
    args: { id: `T-${1000 + i}` },
    args_hash: 'ab'.repeat(32),
    decision: DECISIONS[i % 3]!,
    rules: [`grant:${i % 3}`],
    reasons: [{ code: 'grant.match', message: 'as the policy says' }],
    outcome: OUTCOMES[i % 3]!,
    latency_ms: i,
    ...overrides,
  };
}

/** A store with `count` events and checkpoints every `every`, as the gateway leaves it. */
async function fill(count: number, every = 10): Promise<void> {
  const log = await openSqliteAuditLog({ path: db, checkpointEvery: { events: every } });
  for (let i = 0; i < count; i++) await log.append(event(i));
  keptKeys.set(db, log.verifierKey);
  await log.close();
}

async function run(argv: string[]) {
  const io = fakeIo();
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err };
}

function raw(change: (db: Database.Database) => void): void {
  const handle = new Database(db);
  try {
    handle.transaction(() => change(handle))();
  } finally {
    handle.close();
  }
}

const verifierKey = () => readFileSync(join(dir, 'audit.pub'), 'utf8').trim();

/** The verifier key of the log `fill` wrote at a path, as the log itself reported it. */
const keptKeys = new Map<string, string>();
const verifierKeyOf = (path: string) => keptKeys.get(path)!;

describe('posture audit verify (a store)', () => {
  it('says ok for an untouched log', async () => {
    await fill(25);
    const result = await run(['audit', 'verify', '--db', db]);
    expect(result).toEqual({
      code: 0,
      out: `ok: audit log \`${db}\`: \`25\` events verified, \`25\` covered by a signed checkpoint\n`,
      err: '',
    });
    const json = await run(['audit', 'verify', '--db', db, '--json']);
    expect(JSON.parse(json.out)).toEqual({ ok: true, checked: 25, covered: 25 });
  });

  const tampering: Array<[string, (db: Database.Database) => void, RegExp]> = [
    [
      'an edited event',
      (h) =>
        h.prepare(`UPDATE audit_events SET json = replace(json, '"deny"', '"allow"') WHERE seq = 7`).run(),
      /first bad index 7: event 7 was edited/,
    ],
    [
      'a deleted event',
      (h) => h.prepare('DELETE FROM audit_events WHERE seq = 5').run(),
      /first bad index 5: .*deleted/,
    ],
    [
      'an inserted event',
      (h) => {
        h.prepare('UPDATE audit_events SET seq = -seq - 1 WHERE seq >= 12').run();
        h.prepare('UPDATE audit_events SET seq = -seq WHERE seq < 0').run();
        const forged = { ...event(99, { decision: 'allow' }), seq: 12 } as StoredEvent;
        h.prepare('INSERT INTO audit_events (seq, time, kind, json, leaf_hash) VALUES (?, ?, ?, ?, ?)').run(
          12,
          forged.time,
          forged.kind,
          storedEventText(forged),
          storedEventLeaf(forged),
        );
      },
      /first bad index 12: .*inserted/,
    ],
    [
      'reordered events',
      (h) => {
        const move = h.prepare('UPDATE audit_events SET seq = ? WHERE seq = ?');
        move.run(-1, 3);
        move.run(3, 8);
        move.run(8, -1);
      },
      /first bad index 3: .*reordered/,
    ],
    [
      'a truncated tail',
      (h) => h.prepare('DELETE FROM audit_events WHERE seq >= 15').run(),
      /first bad index 15: .*truncated/,
    ],
    [
      'a forged checkpoint',
      (h) => {
        const forger = generateSignerKey('posture.local/audit/forger');
        const real = h.prepare('SELECT note FROM audit_checkpoints WHERE size = 10').pluck().get() as string;
        const forged = signCheckpoint(
          { origin: real.split('\n')[0]!, size: 10, root: Buffer.alloc(32, 7) },
          forger.signerKey,
        );
        h.prepare('UPDATE audit_checkpoints SET note = ? WHERE size = 10').run(forged.note);
      },
      /bad checkpoint 0: checkpoint 0 is not valid: .*no signature by a known key/,
    ],
  ];

  for (const [name, change, message] of tampering) {
    it(`names where ${name} is, and exits 1`, async () => {
      await fill(20);
      raw(change);
      const result = await run(['audit', 'verify', '--db', db]);
      expect(result.code).toBe(1);
      expect(result.out).toBe('');
      expect(result.err).toMatch(
        new RegExp(`^posture: audit log \`[^\`]+\` does not verify: ${message.source}`),
      );
      const json = await run(['audit', 'verify', '--db', db, '--json']);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.out)).toMatchObject({ ok: false });
    });
  }

  it('verifies with a pinned key instead of the key file, and fails with another', async () => {
    await fill(12);
    expect((await run(['audit', 'verify', '--db', db, '--key', verifierKey()])).code).toBe(0);
    const other = generateSignerKey('someone-else').verifierKey;
    const result = await run(['audit', 'verify', '--db', db, '--key', other]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/bad checkpoint 0: .*no signature by a known key/);
  });

  it('checks the log against a checkpoint kept apart: a log cut short and re-signed is caught', async () => {
    await fill(20);
    const kept = join(dir, 'checkpoint-20.txt');
    const checkpoint = await run(['audit', 'checkpoint', '--db', db]);
    writeFileSync(kept, checkpoint.out);
    // Someone with the file and the key drops the tail and every checkpoint after it.
    raw((h) => {
      h.prepare('DELETE FROM audit_events WHERE seq >= 14').run();
      h.prepare('DELETE FROM audit_checkpoints WHERE size > 10').run();
    });
    expect((await run(['audit', 'verify', '--db', db])).code).toBe(0);
    const result = await run(['audit', 'verify', '--db', db, '--checkpoint', kept]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/first bad index 14: .*truncated/);
  });

  it('does not create a store or a key that is not there', async () => {
    const missing = join(dir, 'nowhere', 'posture.db');
    const result = await run(['audit', 'verify', '--db', missing]);
    expect(result).toMatchObject({ code: 2, out: '' });
    expect(result.err).toBe(
      `posture: no audit log at \`${missing}\`: pass the gateway's store with --db or --postgres\n`,
    );
    expect(existsSync(missing)).toBe(false);
    await fill(1);
    // An auditor's copy has the verifier key (audit.pub) and not the signer key: enough to verify.
    rmSync(join(dir, 'audit.key'));
    expect((await run(['audit', 'verify', '--db', db])).code).toBe(0);
    expect(existsSync(join(dir, 'audit.key'))).toBe(false);
    // Signing needs the signer key, and says where it looked.
    expect((await run(['audit', 'checkpoint', '--db', db])).err).toBe(
      `posture: no signer key at \`${join(dir, 'audit.key')}\`: pass the log's key file with --key-file\n`,
    );
    rmSync(join(dir, 'audit.pub'));
    const keyless = await run(['audit', 'verify', '--db', db]);
    expect(keyless.code).toBe(2);
    expect(keyless.err).toContain('no verifier key for audit log');
    expect((await run(['audit', 'verify', '--db', db, '--key', verifierKeyOf(db)])).code).toBe(0);
    expect(existsSync(join(dir, 'audit.key'))).toBe(false);
  });

  it('names a damaged file without a stack trace', async () => {
    writeFileSync(db, randomBytes(4096));
    writeFileSync(join(dir, 'audit.key'), '');
    const result = await run(['audit', 'verify', '--db', db]);
    expect(result.code).toBe(2);
    expect(result.err).toBe(
      `posture: audit database \`${db}\` is damaged: it is not an SQLite database; it was left untouched (restore it from a copy, or move it aside to start a new log)\n`,
    );
  });
});

describe('posture audit export and verify --file', () => {
  const exported = async () => {
    await fill(20, 8);
    const out = join(dir, 'export.jsonl');
    const result = await run(['audit', 'export', '--db', db, '--out', out]);
    expect(result).toEqual({ code: 0, out: '', err: '' });
    return out;
  };

  it('exports JSON lines that verify offline with the key', async () => {
    const out = await exported();
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    // 20 events, then checkpoints at 8, 16 and the one export signed at 20.
    expect(lines).toHaveLength(23);
    expect(JSON.parse(lines[0]!)).toMatchObject({ seq: 0, tool: 'tickets/get_ticket' });
    const result = await run(['audit', 'verify', '--file', out, '--key', join(dir, 'audit.pub')]);
    expect(result).toEqual({
      code: 0,
      out: `ok: export \`${out}\`: \`20\` events verified, \`20\` covered by a signed checkpoint\n`,
      err: '',
    });
    const stdout = await run(['audit', 'export', '--db', db]);
    expect(stdout.out).toBe(`${lines.join('\n')}\n`);
  });

  it('names the first bad line of an edited, reordered or cut export', async () => {
    const out = await exported();
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    const key = verifierKey();
    const check = async (changed: string[], ...extra: string[]) => {
      const file = join(dir, `changed-${randomBytes(3).toString('hex')}.jsonl`);
      writeFileSync(file, `${changed.join('\n')}\n`);
      return run(['audit', 'verify', '--file', file, '--key', key, ...extra]);
    };
    const edited = await check(lines.map((l, i) => (i === 11 ? l.replace('"T-1011"', '"T-9999"') : l)));
    expect(edited.code).toBe(1);
    expect(edited.err).toMatch(/first bad index 11: event 11 was edited/);
    const swapped = [...lines];
    [swapped[4], swapped[6]] = [swapped[6]!, swapped[4]!];
    expect((await check(swapped)).err).toMatch(/first bad index 4: .*reordered/);
    const dropped = lines.filter((_, i) => i !== 9);
    expect((await check(dropped)).err).toMatch(/first bad index 9: .*deleted/);
    // Cut after event 15 with its checkpoint lines gone: only a checkpoint kept apart shows it.
    const kept = join(dir, 'kept.note');
    writeFileSync(kept, (JSON.parse(lines[22]!) as { checkpoint: string }).checkpoint);
    const cut = lines.slice(0, 16);
    expect((await check(cut)).err).toMatch(/no proof: no signed checkpoint/);
    expect((await check(cut, '--checkpoint', kept)).err).toMatch(/first bad index 16: .*truncated/);
  });

  it('needs a key to verify a file, and refuses to overwrite an export', async () => {
    const out = await exported();
    expect((await run(['audit', 'verify', '--file', out])).err).toBe(
      "posture: verifying an export needs the log's verifier key: pass --key\n",
    );
    const again = await run(['audit', 'export', '--db', db, '--out', out]);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/^posture: cannot write `.*export\.jsonl`: EEXIST/);
    expect(readFileSync(out, 'utf8').split('\n')).toHaveLength(24);
  });

  it('exports OCSF API Activity records', async () => {
    await fill(3);
    const result = await run(['audit', 'export', '--db', db, '--format', 'ocsf']);
    expect(result.code).toBe(0);
    const records = result.out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toHaveLength(3);
    expect(records.map((r) => [r.class_uid, r.action_id])).toEqual([
      [6003, 1],
      [6003, 2],
      [6003, 2],
    ]);
    expect((await run(['audit', 'export', '--db', db, '--format', 'xml'])).code).toBe(2);
  });
});

describe('posture audit search', () => {
  it('filters by agent, user, tool, decision, outcome, kind and time, as a table or JSON', async () => {
    await fill(12);
    const json = async (...args: string[]) => {
      const result = await run(['audit', 'search', '--db', db, '--json', ...args]);
      expect(result.code).toBe(0);
      return (JSON.parse(result.out) as StoredEvent[]).map((e) => e.seq);
    };
    expect(await json('--agent', 'ops-bot')).toEqual([1, 3, 5, 7, 9, 11]);
    expect(await json('--user', 'alice', '--tool', 'payments/refund')).toEqual([4, 10]);
    expect(await json('--decision', 'deny')).toEqual([1, 4, 7, 10]);
    expect(await json('--outcome', 'pending', '--limit', '2')).toEqual([2, 5]);
    expect(await json('--kind', 'alert')).toEqual([]);
    expect(await json('--since', '2025-06-02T09:05:00Z', '--until', '2025-06-02T09:07:00.000Z')).toEqual([
      5, 6, 7,
    ]);
    const table = await run(['audit', 'search', '--db', db, '--tool', 'files/read', '--limit', '2']);
    expect(table.out).toBe(
      [
        'seq  time                      kind  agent        user   tool        decision  outcome',
        '2    2025-06-02T09:02:00.000Z  call  support-bot  alice  files/read  approve   pending',
        '5    2025-06-02T09:05:00.000Z  call  ops-bot      bob    files/read  approve   pending',
        '',
      ].join('\n'),
    );
    expect((await run(['audit', 'search', '--db', db, '--agent', 'nobody'])).out).toBe(
      'no matching events\n',
    );
  });

  it('refuses bad filters with a clear message', async () => {
    await fill(1);
    const bad = async (...args: string[]) => {
      const result = await run(['audit', 'search', '--db', db, ...args]);
      expect(result.code).toBe(2);
      return result.err;
    };
    expect(await bad('--decision', 'maybe')).toBe(
      'posture: unknown decision `maybe`; expected one of allow, deny, approve, confirm\n',
    );
    expect(await bad('--since', 'yesterday')).toMatch(/^posture: --since `yesterday` is not a time/);
    expect(await bad('--limit', '-3')).toBe('posture: --limit must be a whole number, got `-3`\n');
  });

  it('shows control characters in a stored value as escapes', async () => {
    const log = await openSqliteAuditLog({ path: db });
    await log.append(event(0, { tool: 'evil/\u001b[2Jtool\u202e' }));
    await log.close();
    const result = await run(['audit', 'search', '--db', db]);
    expect(result.out).toContain('evil/\\u{1b}[2Jtool\\u{202e}');
    expect(result.out).not.toContain('\u001b');
  });
});

describe('posture audit tail and checkpoint', () => {
  it('prints the latest events, and with --follow the new ones as they come', async () => {
    await fill(8);
    const last = await run(['audit', 'tail', '--db', db, '-n', '3']);
    expect(
      last.out
        .trimEnd()
        .split('\n')
        .map((l) => l.split('  ')[0]),
    ).toEqual(['5', '6', '7']);
    const io = fakeIo();
    const following = main(
      ['audit', 'tail', '--db', db, '-n', '1', '--follow', '--interval', '20', '--max', '4', '--json'],
      io,
    );
    const log = await openSqliteAuditLog({ path: db });
    for (let i = 8; i < 11; i++) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      await log.append(event(i));
    }
    expect(await following).toBe(0);
    await log.close();
    expect(
      io.out
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as StoredEvent).seq),
    ).toEqual([7, 8, 9, 10]);
  });

  it('signs a checkpoint now and prints the note, which the key verifies', async () => {
    await fill(5, 100);
    const result = await run(['audit', 'checkpoint', '--db', db]);
    expect(result.code).toBe(0);
    const [origin, size, root, blank, signature] = result.out.split('\n');
    expect(origin).toMatch(/^posture\.local\/audit\//);
    expect([size, blank]).toEqual(['5', '']);
    expect(root).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(signature).toMatch(/^— /);
    const again = await run(['audit', 'checkpoint', '--db', db]);
    expect(again.out).toBe(result.out);
  });
});

// The same commands over PostgreSQL, when a server is reachable (as in the storage tests).
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ci = process.env.CI !== undefined && !['', '0', 'false'].includes(process.env.CI);
async function unreachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}
const problem = await unreachable();
if (problem !== undefined && !ci)
  console.warn(`skipping posture audit on PostgreSQL: cannot reach ${POSTGRES_URL}: ${problem}`);

describe.skipIf(problem !== undefined && !ci)('posture audit --postgres', () => {
  it('verifies, searches and catches an edit in a PostgreSQL log', async () => {
    const schema = `posture_cli_audit_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA ${schema}`);
      const url = new URL(POSTGRES_URL);
      url.searchParams.set('options', `-c search_path=${schema}`);
      const keyFile = join(dir, 'audit.key');
      const log = await openPostgresAuditLog({ config: { connectionString: url.href }, keyFile });
      for (let i = 0; i < 6; i++) await log.append(event(i));
      await log.close();
      const store = ['--postgres', url.href, '--key-file', keyFile];
      expect(await run(['audit', 'verify', ...store])).toMatchObject({ code: 0, err: '' });
      const found = await run(['audit', 'search', ...store, '--agent', 'ops-bot', '--json']);
      expect((JSON.parse(found.out) as StoredEvent[]).map((e) => e.seq)).toEqual([1, 3, 5]);
      await admin.query(
        `UPDATE ${schema}.posture_audit_events SET json = replace(json, '"T-1002"', '"T-0"') WHERE seq = 2`,
      );
      const result = await run(['audit', 'verify', ...store]);
      expect(result.code).toBe(1);
      expect(result.err).toMatch(/^posture: audit log on postgresql does not verify: first bad index 2: /);
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  });
});

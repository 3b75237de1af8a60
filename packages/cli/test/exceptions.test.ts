// `posture exceptions` against a real SQLite store, through the fake Io.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteAuditLog, openSqliteExceptionStore } from '@posture/storage';
import { main } from '../src/main.js';
import { fakeIo } from './fake-io.js';

const POLICY = `version: 1
users:
  alice: { groups: [support] }
  bob: { groups: [approvers] }
agents:
  support-bot:
    owner: alice
    run_by: [group:support]
    grants:
      - tools: [payments/refund]
        access: write
        when: { amount: { maximum: 500 } }
servers:
  payments:
    tools:
      refund: { tier: 3, access: write, irreversible: true }
tiers:
  3: { approval: { approvers: [group:approvers] } }
`;

const folder = mkdtempSync(join(tmpdir(), 'posture-cli-exceptions-'));
let db: string;
let n = 0;

afterAll(() => rmSync(folder, { recursive: true, force: true }));

beforeEach(async () => {
  db = join(folder, `posture-${n++}.db`);
  // The gateway creates the store; here a first open does.
  await openSqliteExceptionStore(db).close();
});

async function run(argv: string[]) {
  const io = fakeIo('', { 'posture.yaml': POLICY });
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err };
}

async function events() {
  const log = await openSqliteAuditLog({ path: db });
  try {
    return await log.read(0, await log.size());
  } finally {
    await log.close();
  }
}

const grant = (as: string, extra: string[] = []) =>
  run([
    'exceptions',
    'grant',
    '--agent',
    'support-bot',
    '--tools',
    'payments/*',
    '--justification',
    'INC-42 refunds backlog',
    '--as',
    as,
    '--db',
    db,
    ...extra,
  ]);

describe('posture exceptions', () => {
  it('grants a bounded exception as an approver, lists it, revokes it, and records both', async () => {
    const granted = await grant('bob', ['--for', '2h']);
    expect(granted.code).toBe(0);
    const id = granted.out.split(' ')[0]!;
    expect(granted.out).toMatch(
      /agent support-bot {2}payments\/\* {2}active until .* by bob: INC-42 refunds backlog/,
    );

    const listed = await run(['exceptions', 'list', '--db', db, '--json']);
    expect(JSON.parse(listed.out)).toMatchObject([{ id, agent: 'support-bot', approved_by: 'bob' }]);

    expect((await run(['exceptions', 'revoke', id, '--as', 'bob', '--db', db])).code).toBe(0);
    expect((await run(['exceptions', 'revoke', id, '--as', 'bob', '--db', db])).code).toBe(1);

    expect(
      (await events()).map((e) => [e.kind, e.actor.user, e.detail?.change, e.detail?.exception_id]),
    ).toEqual([
      ['exception', 'bob', 'granted', id],
      ['exception', 'bob', 'revoked', id],
    ]);
  });

  it('refuses a grant by someone who approves nothing, or for longer than a day', async () => {
    const byAlice = await grant('alice');
    expect(byAlice.code).toBe(1);
    expect(byAlice.err).toContain('no approver of any tier');
    const tooLong = await grant('bob', ['--for', '3d']);
    expect(tooLong.code).toBe(1);
    expect(await events()).toEqual([]);
  });
});

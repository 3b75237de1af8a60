// Row-level security generated from the retrieval example's policy, against a real PostgreSQL:
// for every user, what a SELECT returns as a role subject to RLS is exactly what the pure
// `canRead` filter keeps, row for row. Needs a server (POSTGRES_URL, default the local one);
// without one the suite is skipped with the reason printed, except in CI, where it fails.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { loadPolicy, type PolicyFile } from '@posture/core';
import { compileRetrieval, type RetrievalAccess } from '../../packages/core/src/data/retrieval.js';
import { generateRls, quoteIdent, quoteLiteral } from '../../packages/core/src/data/rls.js';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const example = (file: string) =>
  readFileSync(new URL(`../../examples/retrieval/${file}`, import.meta.url), 'utf8');

async function unreachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const problem = await unreachable();
const ci = process.env.CI !== undefined && !['', '0', 'false'].includes(process.env.CI);
const skip = problem !== undefined && !ci;
if (skip) console.warn(`skipping the PostgreSQL RLS tests: cannot reach ${POSTGRES_URL}: ${problem}`);

interface Doc {
  title: string;
  owner: string | null;
  groups: (string | null)[] | null;
  classification: string | null;
}

// Every kind of row: per classification, with and without groups, owned, unlabelled, an unknown
// classification, an undeclared owner, a NULL inside the groups.
const DOCS: Doc[] = [
  { title: 'public-memo', owner: null, groups: null, classification: 'public' },
  { title: 'handbook', owner: null, groups: null, classification: 'internal' },
  { title: 'finance-internal', owner: null, groups: ['finance'], classification: 'internal' },
  { title: 'runbook', owner: null, groups: ['support', 'engineering'], classification: 'internal' },
  { title: 'audit-report', owner: null, groups: null, classification: 'confidential' },
  { title: 'budget', owner: null, groups: ['finance'], classification: 'confidential' },
  { title: 'carol-review', owner: 'carol', groups: null, classification: 'confidential' },
  { title: 'unlabelled', owner: null, groups: null, classification: null },
  { title: 'unlabelled-eng', owner: null, groups: ['engineering'], classification: null },
  { title: 'unknown-class', owner: null, groups: null, classification: 'top-secret' },
  { title: 'alice-unknown', owner: 'alice', groups: ['ghosts'], classification: 'top-secret' },
  { title: 'empty-class', owner: null, groups: null, classification: '' },
  { title: 'mallory-owned', owner: 'mallory', groups: null, classification: 'top-secret' },
  { title: 'empty-groups', owner: null, groups: [], classification: 'confidential' },
  { title: 'ghost-group', owner: null, groups: ['ghosts'], classification: 'public' },
  { title: 'null-in-groups', owner: null, groups: ['finance', null], classification: 'internal' },
  { title: 'dana-unlabelled', owner: 'dana', groups: null, classification: null },
  { title: 'wrong-case', owner: null, groups: null, classification: 'Public' },
];

// Written out by hand from the example policy, so that the comparison with `canRead` cannot pass
// by both sides being wrong (or empty) together.
const EXPECTED_WITH_DEFAULT: Record<string, string[]> = {
  alice: ['public-memo', 'handbook', 'runbook', 'unlabelled', 'alice-unknown', 'dana-unlabelled'],
  bob: [
    'public-memo',
    'handbook',
    'finance-internal',
    'audit-report',
    'budget',
    'carol-review',
    'unlabelled',
    'empty-groups',
    'dana-unlabelled',
  ],
  carol: [
    'public-memo',
    'handbook',
    'runbook',
    'carol-review',
    'unlabelled',
    'unlabelled-eng',
    'dana-unlabelled',
  ],
  dana: ['public-memo', 'audit-report', 'carol-review', 'empty-groups', 'dana-unlabelled'],
  mallory: [],
  '': [],
};
EXPECTED_WITH_DEFAULT.erin = EXPECTED_WITH_DEFAULT.bob!;

const labelsOf = (doc: Doc) => ({ owner: doc.owner, groups: doc.groups, classification: doc.classification });
const sorted = (titles: readonly string[]) => [...titles].sort();

describe.skipIf(skip)('PostgreSQL row-level security from the policy', () => {
  const suffix = randomBytes(6).toString('hex');
  const schema = `posture_rls_${suffix}`;
  const reader = `posture_reader_${suffix}`;
  const tableOwner = `posture_owner_${suffix}`;
  const hostileSchema = `posture "rls"; --${suffix}`;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  let policy: PolicyFile;
  let access: RetrievalAccess;
  let users: string[];
  let connected = false;

  beforeAll(async () => {
    const loaded = loadPolicy(example('posture.yaml'), 'examples/retrieval/posture.yaml');
    expect(loaded.problems.filter((p) => p.severity === 'error')).toEqual([]);
    policy = loaded.policy!;
    access = compileRetrieval(policy)!;
    users = Object.keys(policy.users);

    await client.connect();
    connected = true;
    const S = quoteIdent(schema);
    await client.query(`CREATE SCHEMA ${S}`);
    await client.query(`CREATE ROLE ${quoteIdent(reader)} NOLOGIN`);
    await client.query(`CREATE ROLE ${quoteIdent(tableOwner)} NOLOGIN`);
    await client.query(`SET search_path TO ${S}`);
    await client.query(example('schema.sql'));
    await client.query('RESET search_path');
    for (const doc of DOCS) {
      await client.query(
        `INSERT INTO ${S}.documents (owner, groups, classification, title) VALUES ($1, $2::text[], $3, $4)`,
        [doc.owner, doc.groups, doc.classification, doc.title],
      );
    }
    await client.query(`ALTER TABLE ${S}.documents OWNER TO ${quoteIdent(tableOwner)}`);
    for (const role of [reader, tableOwner]) {
      await client.query(`GRANT USAGE ON SCHEMA ${S} TO ${quoteIdent(role)}`);
    }
    await client.query(`GRANT SELECT ON ${S}.documents TO ${quoteIdent(reader)}`);
    const sql = generateRls(policy, { table: 'documents', schema });
    await client.query(sql);
    await client.query(sql); // re-runnable
  });

  afterAll(async () => {
    if (!connected) return;
    await client.query('ROLLBACK').catch(() => undefined);
    for (const name of [schema, hostileSchema]) {
      await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(name)} CASCADE`);
    }
    for (const role of [reader, tableOwner]) {
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (exists.rowCount === 0) continue;
      await client.query(`DROP OWNED BY ${quoteIdent(role)}`);
      await client.query(`DROP ROLE ${quoteIdent(role)}`);
    }
    await client.end();
  });

  /** The titles `user` retrieves as `role`, the acting user set for the transaction only. */
  async function retrieve(
    role: string,
    user: string | undefined,
    on = client,
    table = `${quoteIdent(schema)}.documents`,
  ) {
    await on.query('BEGIN');
    try {
      await on.query(`SET LOCAL ROLE ${quoteIdent(role)}`);
      if (user !== undefined) await on.query(`SELECT set_config('posture.user', $1, true)`, [user]);
      const { rows } = await on.query<{ title: string }>(`SELECT title FROM ${table} ORDER BY id`);
      return sorted(rows.map((row) => row.title));
    } finally {
      await on.query('COMMIT');
    }
  }

  const keptBy = (checker: RetrievalAccess, user: string) =>
    sorted(DOCS.filter((doc) => checker.canRead(user, labelsOf(doc))).map((doc) => doc.title));

  it('runs as roles that do not bypass RLS', async () => {
    const { rows } = await client.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }>(
      'SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname',
      [[reader, tableOwner]],
    );
    expect(rows.map((r) => [r.rolsuper, r.rolbypassrls])).toEqual([
      [false, false],
      [false, false],
    ]);
    const { rows: flags } = await client.query<{ relrowsecurity: boolean; relforcerowsecurity: boolean }>(
      `SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass`,
      [`${quoteIdent(schema)}.documents`],
    );
    expect(flags).toEqual([{ relrowsecurity: true, relforcerowsecurity: true }]);
  });

  it('shows every user exactly the rows canRead keeps', async () => {
    for (const user of [...users, 'mallory', '']) {
      const expected = sorted(EXPECTED_WITH_DEFAULT[user]!);
      expect(keptBy(access, user), `canRead for \`${user}\``).toEqual(expected);
      expect(await retrieve(reader, user), `rows for \`${user}\``).toEqual(expected);
    }
  });

  it('binds the table owner too (FORCE ROW LEVEL SECURITY)', async () => {
    for (const user of [...users, 'mallory']) {
      expect(await retrieve(tableOwner, user), `rows for \`${user}\` as the owner`).toEqual(
        keptBy(access, user),
      );
    }
  });

  it('returns nothing when the acting user is not set', async () => {
    const fresh = new pg.Client({ connectionString: POSTGRES_URL });
    await fresh.connect();
    try {
      // Never set in this session: current_setting is NULL.
      expect(await retrieve(reader, undefined, fresh)).toEqual([]);
      // Set for one transaction only: the next one sees '' and nothing.
      expect(await retrieve(reader, 'bob', fresh)).toEqual(sorted(EXPECTED_WITH_DEFAULT.bob!));
      expect(await retrieve(reader, undefined, fresh)).toEqual([]);
    } finally {
      await fresh.end();
    }
  });

  it('cannot be widened by the querying role through the helper tables', async () => {
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL ROLE ${quoteIdent(reader)}`);
      await expect(
        client.query(`INSERT INTO ${quoteIdent(schema)}.posture_readers VALUES ('confidential', 'alice')`),
      ).rejects.toThrow(/permission denied/);
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('withholds unlabelled rows once the policy drops its default (re-applied in place)', async () => {
    const retrieval = { ...policy.data.retrieval! };
    delete retrieval.default;
    const strict: PolicyFile = { ...policy, data: { ...policy.data, retrieval } };
    const strictAccess = compileRetrieval(strict)!;
    await client.query(generateRls(strict, { table: 'documents', schema }));
    try {
      for (const user of [...users, 'mallory']) {
        const rows = await retrieve(reader, user);
        expect(rows, `rows for \`${user}\` without a default`).toEqual(keptBy(strictAccess, user));
        expect(rows).not.toContain('unlabelled');
      }
      expect(await retrieve(reader, 'dana')).toContain('dana-unlabelled');
    } finally {
      await client.query(generateRls(policy, { table: 'documents', schema }));
    }
    expect(await retrieve(reader, 'alice')).toContain('unlabelled');
  });

  it('quotes hostile names: schema, table, columns and role', async () => {
    const S = quoteIdent(hostileSchema);
    const table = `docs"; DROP TABLE documents; --`;
    const T = `${S}.${quoteIdent(table)}`;
    const columns = {
      ownerColumn: `o'wner`,
      groupsColumn: 'Group"s',
      classificationColumn: `class\\ification`,
    };
    await client.query(`CREATE SCHEMA ${S}`);
    await client.query(
      `CREATE TABLE ${T} (id serial PRIMARY KEY, title text NOT NULL, ${quoteIdent(columns.ownerColumn)} text, ${quoteIdent(columns.groupsColumn)} text[], ${quoteIdent(columns.classificationColumn)} text)`,
    );
    for (const doc of DOCS) {
      await client.query(
        `INSERT INTO ${T} (title, ${quoteIdent(columns.ownerColumn)}, ${quoteIdent(columns.groupsColumn)}, ${quoteIdent(columns.classificationColumn)}) VALUES ($1, $2, $3::text[], $4)`,
        [doc.title, doc.owner, doc.groups, doc.classification],
      );
    }
    await client.query(`GRANT USAGE ON SCHEMA ${S} TO ${quoteIdent(reader)}`);
    await client.query(`GRANT SELECT ON ${T} TO ${quoteIdent(reader)}, ${quoteIdent(tableOwner)}`);
    await client.query(generateRls(policy, { table, schema: hostileSchema, role: reader, ...columns }));
    for (const user of [...users, 'mallory']) {
      expect(await retrieve(reader, user, client, T)).toEqual(keptBy(access, user));
    }
    // The policy applies to `reader` only: any other role subject to RLS sees nothing.
    await client.query(`GRANT USAGE ON SCHEMA ${S} TO ${quoteIdent(tableOwner)}`);
    expect(await retrieve(tableOwner, 'bob', client, T)).toEqual([]);
    // The original table is still there.
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${quoteIdent(schema)}.documents`);
    expect(rows).toEqual([{ n: DOCS.length }]);
  });

  it('quoteLiteral reads back unchanged, whatever standard_conforming_strings says', async () => {
    const hostile = [
      "o'brien",
      "'; DROP TABLE documents; --",
      '\\',
      "\\'; SELECT 1; --",
      'back\\slash\\n',
      '$posture$ $$',
      'é ✓ 𝄞',
      '',
    ];
    for (const setting of ['on', 'off']) {
      await client.query(`SET standard_conforming_strings = ${setting}`);
      try {
        for (const value of hostile) {
          const { rows } = await client.query<{ v: string }>(`SELECT ${quoteLiteral(value)} AS v`);
          expect(rows, `${JSON.stringify(value)} with standard_conforming_strings ${setting}`).toEqual([
            { v: value },
          ]);
        }
      } finally {
        await client.query('RESET standard_conforming_strings');
      }
    }
  });
});

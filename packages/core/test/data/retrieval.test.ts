import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadPolicy, PolicyFile } from '../../src/index.js';
import {
  canReadResource,
  compileRetrieval,
  filterDocuments,
  filterResourceList,
  filterResourceRead,
  filterRetrievalResult,
  type DocumentLabels,
  type RetrievalAccess,
} from '../../src/data/retrieval.js';
import { generateRls, quoteIdent, quoteLiteral } from '../../src/data/rls.js';

function policyOf(text: string, allowed: string[] = []): PolicyFile {
  const { policy, problems } = loadPolicy(text, 'posture.yaml');
  expect(problems.filter((p) => p.severity === 'error' && !allowed.includes(p.code))).toEqual([]);
  return policy!;
}

function accessOf(text: string, allowed: string[] = []): RetrievalAccess {
  const access = compileRetrieval(policyOf(text, allowed));
  expect(access).toBeDefined();
  return access!;
}

// alice: support (→ staff); bob: finance (→ staff); erin: finance through groups.finance.members;
// carol: engineering, staff only through a group nested two levels deep; dana: no groups.
const BASE = `
version: 1
users:
  alice: { groups: [support] }
  bob: { groups: [finance] }
  carol: { groups: [platform] }
  dana: {}
  erin: {}
groups:
  finance: { members: [erin] }
  support: {}
  platform: {}
  engineering: { members: ['group:platform'] }
  staff: { members: ['group:support', 'group:finance', 'group:engineering'] }
`;
const RETRIEVAL = `
data:
  retrieval:
    classifications:
      public: { readers: ['*'] }
      internal: { readers: ['group:staff'] }
      confidential: { readers: ['group:finance', dana] }
`;
const USERS = ['alice', 'bob', 'carol', 'dana', 'erin'];
const withDefault = accessOf(`${BASE}${RETRIEVAL}    default: internal\n`);
const noDefault = accessOf(`${BASE}${RETRIEVAL}`);

const readersOf = (access: RetrievalAccess, labels: DocumentLabels | undefined, users = USERS) =>
  users.filter((user) => access.canRead(user, labels));

describe('compileRetrieval', () => {
  it('is undefined without data.retrieval', () => {
    expect(compileRetrieval(policyOf(BASE))).toBeUndefined();
  });

  it('resolves readers through users.groups, groups.members and nested groups', () => {
    expect(withDefault.readers.get('internal')).toEqual(new Set(['alice', 'bob', 'carol', 'erin']));
    expect(withDefault.readers.get('confidential')).toEqual(new Set(['bob', 'erin', 'dana']));
    expect(withDefault.groups.get('carol')).toEqual(new Set(['platform', 'engineering', 'staff']));
    expect(withDefault.defaultClassification).toBe('internal');
    expect(noDefault.defaultClassification).toBeUndefined();
  });

  it("expands '*' to every declared user, and only those", () => {
    expect(withDefault.readers.get('public')).toEqual(new Set(USERS));
    expect(withDefault.canRead('mallory', { classification: 'public' })).toBe(false);
  });

  it('ignores readers that name undeclared users or groups', () => {
    const access = accessOf(
      `${BASE}data:\n  retrieval:\n    classifications:\n      odd: { readers: [dana] }\n`,
    );
    expect(readersOf(access, { classification: 'odd' })).toEqual(['dana']);
  });
});

describe('canRead', () => {
  it('lets the readers of a classification read it', () => {
    expect(readersOf(withDefault, { classification: 'public' })).toEqual(USERS);
    expect(readersOf(withDefault, { classification: 'internal' })).toEqual(['alice', 'bob', 'carol', 'erin']);
    expect(readersOf(withDefault, { classification: 'confidential' })).toEqual(['bob', 'dana', 'erin']);
  });

  it('requires membership of one of the groups a document names', () => {
    expect(readersOf(withDefault, { classification: 'internal', groups: ['finance'] })).toEqual([
      'bob',
      'erin',
    ]);
    expect(
      readersOf(withDefault, { classification: 'internal', groups: ['support', 'engineering'] }),
    ).toEqual(['alice', 'carol']);
    // Groups narrow a classification, never widen it: dana reads confidential, but is in no group.
    expect(readersOf(withDefault, { classification: 'confidential', groups: ['finance'] })).toEqual([
      'bob',
      'erin',
    ]);
    // Even public documents: a group nobody is in hides it from everyone but its owner.
    expect(readersOf(withDefault, { classification: 'public', groups: ['ghosts'] })).toEqual([]);
    expect(readersOf(withDefault, { classification: 'public', groups: ['ghosts'], owner: 'dana' })).toEqual([
      'dana',
    ]);
  });

  it('treats no groups, null and [] alike: no group restriction', () => {
    for (const groups of [undefined, null, []]) {
      expect(readersOf(withDefault, { classification: 'confidential', groups })).toEqual([
        'bob',
        'dana',
        'erin',
      ]);
    }
  });

  it('gives unlabelled documents the default classification', () => {
    const staff = ['alice', 'bob', 'carol', 'erin'];
    expect(readersOf(withDefault, undefined)).toEqual(staff);
    expect(readersOf(withDefault, {})).toEqual(staff);
    expect(readersOf(withDefault, { classification: null })).toEqual(staff);
    expect(readersOf(withDefault, { groups: ['engineering'] })).toEqual(['carol']);
  });

  it('withholds unlabelled documents when there is no default', () => {
    expect(readersOf(noDefault, undefined)).toEqual([]);
    expect(readersOf(noDefault, {})).toEqual([]);
    expect(readersOf(noDefault, { groups: ['finance'] })).toEqual([]);
    expect(readersOf(noDefault, { owner: 'carol' })).toEqual(['carol']);
  });

  it('withholds documents of an unknown classification, whatever the default', () => {
    for (const access of [withDefault, noDefault]) {
      expect(readersOf(access, { classification: 'top-secret' })).toEqual([]);
      expect(readersOf(access, { classification: '' })).toEqual([]);
      expect(readersOf(access, { classification: 'Public' })).toEqual([]);
      expect(readersOf(access, { classification: '__proto__' })).toEqual([]);
    }
  });

  it('withholds everything when the default names no declared classification', () => {
    // `posture check` refuses such a policy; the filter still fails closed if one is compiled.
    const access = accessOf(`${BASE}${RETRIEVAL}    default: secret\n`, ['retrieval.unknown_default']);
    expect(readersOf(access, undefined)).toEqual([]);
    expect(readersOf(access, { classification: 'public' })).toEqual(USERS);
  });

  it('always lets the owner read, whatever else the labels say', () => {
    expect(readersOf(withDefault, { owner: 'alice', classification: 'confidential' })).toEqual([
      'alice',
      'bob',
      'dana',
      'erin',
    ]);
    expect(readersOf(withDefault, { owner: 'alice', classification: 'nope', groups: ['ghosts'] })).toEqual([
      'alice',
    ]);
    expect(readersOf(noDefault, { owner: 'dana', groups: ['finance'] })).toEqual(['dana']);
  });

  it('shows a user the policy does not declare nothing, even what they own', () => {
    for (const user of ['mallory', '', 'Alice', 'alice ', '*', 'group:staff', '__proto__', 'constructor']) {
      expect(withDefault.canRead(user, { classification: 'public' })).toBe(false);
      expect(withDefault.canRead(user, { owner: user, classification: 'public' })).toBe(false);
      expect(withDefault.canRead(user, undefined)).toBe(false);
    }
  });

  it('withholds labels of the wrong type (they come from other systems as JSON)', () => {
    const odd = (labels: unknown) => readersOf(withDefault, labels as DocumentLabels);
    expect(odd({ classification: 7 })).toEqual([]);
    expect(odd({ classification: ['public'] })).toEqual([]);
    expect(odd({ classification: 'public', groups: 'finance' })).toEqual([]);
    expect(odd({ classification: 'public', groups: { 0: 'finance', length: 1 } })).toEqual([]);
    expect(odd({ classification: 'public', groups: ['finance', 7] })).toEqual([]);
    expect(odd({ classification: 'public', groups: ['finance', null] })).toEqual([]);
    expect(odd({ owner: ['bob'], classification: 'nope' })).toEqual([]);
    expect(odd('public')).toEqual([]);
    expect(odd([])).toEqual([]);
    // The owner still reads it: ownership does not depend on the other labels.
    expect(odd({ owner: 'bob', classification: 7, groups: 'x' })).toEqual(['bob']);
  });
});

describe('filterDocuments', () => {
  it('keeps what the user may read, in order, and counts the rest', () => {
    const docs = [
      { id: 1, labels: { classification: 'public' } },
      { id: 2, labels: { classification: 'confidential' } },
      { id: 3, labels: undefined },
      { id: 4, labels: { classification: 'internal', groups: ['finance'] } },
      { id: 5, labels: { classification: 'nope', owner: 'alice' } },
    ];
    const alice = filterDocuments(withDefault, 'alice', docs, (d) => d.labels);
    expect(alice.kept.map((d) => d.id)).toEqual([1, 3, 5]);
    expect(alice.withheld).toBe(2);
    const dana = filterDocuments(noDefault, 'dana', docs, (d) => d.labels);
    expect(dana.kept.map((d) => d.id)).toEqual([1, 2]);
    expect(dana.withheld).toBe(3);
    expect(filterDocuments(withDefault, 'mallory', docs, (d) => d.labels)).toEqual({ kept: [], withheld: 5 });
  });
});

describe('MCP resources', () => {
  const resource = (uri: string, posture?: unknown, extra: Record<string, unknown> = {}) => ({
    uri,
    name: uri,
    ...(posture === undefined ? {} : { _meta: { posture, ...extra } }),
  });
  const list = {
    resources: [
      resource('doc://public', { classification: 'public' }),
      resource('doc://plan', { classification: 'confidential', groups: ['finance'] }),
      resource('doc://unlabelled'),
      resource('doc://meta-without-labels', undefined),
      { uri: 'doc://other-meta', name: 'x', _meta: { 'com.example/x': 1 } },
      resource('doc://mine', { owner: 'carol', classification: 'nope' }),
      resource('doc://broken', 'confidential'),
    ],
    nextCursor: 'abc',
  };

  it('reads labels from _meta.posture', () => {
    expect(canReadResource(withDefault, 'bob', list.resources[1]!)).toBe(true);
    expect(canReadResource(withDefault, 'dana', list.resources[1]!)).toBe(false);
    expect(canReadResource(noDefault, 'bob', list.resources[2]!)).toBe(false);
    expect(canReadResource(withDefault, 'bob', { uri: 'x', _meta: 'posture' as never })).toBe(false);
  });

  it('filters resources/list without changing the input', () => {
    const before = structuredClone(list);
    const carol = filterResourceList(withDefault, 'carol', list);
    expect(carol.result.resources.map((r) => r.uri)).toEqual([
      'doc://public',
      'doc://unlabelled',
      'doc://meta-without-labels',
      'doc://other-meta',
      'doc://mine',
    ]);
    expect(carol.withheld).toBe(2);
    expect(carol.result.nextCursor).toBe('abc');
    expect(list).toEqual(before);
    expect(filterResourceList(noDefault, 'dana', list).result.resources.map((r) => r.uri)).toEqual([
      'doc://public',
    ]);
    expect(filterResourceList(withDefault, 'mallory', list).withheld).toBe(list.resources.length);
  });

  it('filters the contents of resources/read', () => {
    const read = {
      contents: [
        { uri: 'doc://plan', text: 'budget', _meta: { posture: { classification: 'confidential' } } },
        { uri: 'doc://plan#appendix', text: 'salaries', _meta: { posture: { classification: 'nope' } } },
      ],
    };
    expect(filterResourceRead(withDefault, 'dana', read)).toEqual({
      result: { contents: [read.contents[0]] },
      withheld: 1,
    });
    expect(filterResourceRead(withDefault, 'alice', read).result.contents).toEqual([]);
  });
});

describe('filterRetrievalResult', () => {
  const docs = [
    { id: 'a', title: 'Holiday calendar', labels: { classification: 'public' } },
    { id: 'b', title: 'Q3 budget', labels: { classification: 'confidential', groups: ['finance'] } },
    {
      id: 'c',
      title: 'Runbook',
      _meta: { posture: { classification: 'internal', groups: ['engineering'] } },
    },
    { id: 'd', title: 'Wiki page' },
    {
      id: 'e',
      title: 'Both',
      labels: { classification: 'public' },
      _meta: { posture: { classification: 'confidential' } },
    },
  ];
  const ids = (value: unknown, key = 'documents') =>
    ((value as Record<string, Array<{ id: string }>>)[key] ?? []).map((d) => d.id);

  for (const key of ['documents', 'results', 'items']) {
    it(`filters a top-level \`${key}\` array and keeps the other fields`, () => {
      const result = filterRetrievalResult(withDefault, 'bob', { [key]: docs, total: 5 });
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(ids(result.value, key)).toEqual(['a', 'b', 'd', 'e']);
      expect((result.value as { total: number }).total).toBe(5);
      expect([result.kept, result.withheld]).toEqual([4, 1]);
    });
  }

  it('requires every label object present to allow (labels and _meta.posture)', () => {
    const result = filterRetrievalResult(withDefault, 'alice', { documents: [docs[4]] });
    expect(result).toMatchObject({ ok: true, kept: 0, withheld: 1 });
  });

  it('filters every document list present, and a top-level array', () => {
    const result = filterRetrievalResult(withDefault, 'carol', { documents: docs, items: docs.slice(0, 2) });
    expect(result.ok && [ids(result.value), ids(result.value, 'items')]).toEqual([['a', 'c', 'd'], ['a']]);
    const array = filterRetrievalResult(noDefault, 'carol', docs);
    expect(array.ok && (array.value as Array<{ id: string }>).map((d) => d.id)).toEqual(['a', 'c']);
  });

  it('answers JSON text with JSON text', () => {
    const result = filterRetrievalResult(withDefault, 'dana', JSON.stringify({ results: docs }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(typeof result.value).toBe('string');
    expect(ids(JSON.parse(result.value as string), 'results')).toEqual(['a', 'e']);
    expect(result.withheld).toBe(3);
  });

  it('withholds entries that are not objects, and labels that are not objects', () => {
    const result = filterRetrievalResult(withDefault, 'bob', {
      documents: ['a string', 7, null, [docs[0]], { id: 'x', labels: 'public' }, { id: 'y', _meta: 'z' }],
    });
    expect(result).toMatchObject({ ok: true, kept: 0, withheld: 6 });
  });

  it('says so, and keeps nothing, when it finds no list of documents', () => {
    for (const value of [{ document: docs }, { data: { documents: docs } }, { documents: 'x' }, 42, null]) {
      expect(filterRetrievalResult(withDefault, 'bob', value)).toMatchObject({
        ok: false,
        code: 'retrieval.no_documents',
      });
    }
    expect(filterRetrievalResult(withDefault, 'bob', '{"documents": [')).toMatchObject({
      ok: false,
      code: 'retrieval.not_json',
    });
  });

  it('never reports the contents of what it withheld', () => {
    const result = filterRetrievalResult(withDefault, 'dana', { documents: docs });
    expect(JSON.stringify(result)).not.toContain('Q3 budget');
  });
});

describe('monotonicity (property)', () => {
  const USER_NAMES = ['u1', 'u2', 'u3', 'u4'];
  const GROUP_NAMES = ['g1', 'g2', 'g3'];
  const CLASSES = ['c1', 'c2', 'c3'];
  const PRINCIPALS = ['*', ...USER_NAMES, ...GROUP_NAMES.map((g) => `group:${g}`)];

  const policyArb = fc.record({
    users: fc.record(
      Object.fromEntries(USER_NAMES.map((u) => [u, fc.record({ groups: fc.subarray(GROUP_NAMES) })])),
    ),
    groups: fc.record(
      Object.fromEntries(
        GROUP_NAMES.map((g) => [
          g,
          fc.record({
            members: fc.subarray([
              ...USER_NAMES,
              ...GROUP_NAMES.filter((h) => h !== g).map((h) => `group:${h}`),
            ]),
          }),
        ]),
      ),
    ),
    readers: fc.record(
      Object.fromEntries(CLASSES.map((c) => [c, fc.subarray(PRINCIPALS, { minLength: 1 })])),
    ),
    default: fc.option(fc.constantFrom(...CLASSES, 'c9'), { nil: undefined }),
  });
  const labelsArb = fc.record(
    {
      owner: fc.constantFrom(...USER_NAMES, 'zed'),
      groups: fc.subarray([...GROUP_NAMES, 'g9']),
      classification: fc.constantFrom(...CLASSES, 'c9'),
    },
    { requiredKeys: [] },
  );

  const build = (p: fc.RecordValue<typeof policyArb>, readers: Record<string, string[]>) =>
    compileRetrieval(
      PolicyFile.parse({
        version: 1,
        users: p.users,
        groups: p.groups,
        data: {
          retrieval: {
            classifications: Object.fromEntries(
              Object.entries(readers).map(([c, r]) => [c, { readers: r.length > 0 ? r : ['u1'] }]),
            ),
            ...(p.default ? { default: p.default } : {}),
          },
        },
      }),
    )!;

  it('adding a reader never hides a document; removing one never reveals one', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.constantFrom(...CLASSES),
        fc.constantFrom(...PRINCIPALS),
        fc.array(labelsArb, { maxLength: 8 }),
        (p, cls, principal, docs) => {
          const fewer = { ...p.readers, [cls]: p.readers[cls]!.filter((r) => r !== principal) };
          // An empty reader list is invalid: keep one reader on both sides.
          if (fewer[cls]!.length === 0) fewer[cls] = ['u1'];
          const more = { ...fewer, [cls]: [...new Set([...fewer[cls]!, principal])] };
          const small = build(p, fewer);
          const large = build(p, more);
          for (const user of [...USER_NAMES, 'zed']) {
            for (const labels of [undefined, ...docs]) {
              if (small.canRead(user, labels)) expect(large.canRead(user, labels)).toBe(true);
              if (!large.canRead(user, labels)) expect(small.canRead(user, labels)).toBe(false);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('rls generation', () => {
  const policy = policyOf(`${BASE}${RETRIEVAL}    default: internal\n`);

  it('quotes identifiers, doubling embedded quotes', () => {
    expect(quoteIdent('documents')).toBe('"documents"');
    expect(quoteIdent('Docs')).toBe('"Docs"');
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(quoteIdent('x"; DROP TABLE users; --')).toBe('"x""; DROP TABLE users; --"');
    expect(quoteIdent('"')).toBe('""""');
    expect(quoteIdent('select')).toBe('"select"');
    expect(quoteIdent('é'.repeat(31))).toBe(`"${'é'.repeat(31)}"`);
  });

  it('refuses identifiers PostgreSQL would mangle', () => {
    for (const bad of [
      '',
      'a\u0000b',
      'a\nb',
      'tab\there',
      'x\u007f',
      'a'.repeat(64),
      'é'.repeat(32),
      '\uD800',
    ]) {
      expect(() => quoteIdent(bad)).toThrow();
    }
    expect(quoteIdent('a'.repeat(63))).toBe(`"${'a'.repeat(63)}"`);
  });

  it('quotes literals, doubling quotes, and backslashes in an E string', () => {
    expect(quoteLiteral('alice')).toBe("'alice'");
    expect(quoteLiteral("o'brien")).toBe("'o''brien'");
    expect(quoteLiteral("'; DROP TABLE users; --")).toBe("'''; DROP TABLE users; --'");
    expect(quoteLiteral('a\\')).toBe("E'a\\\\'");
    expect(quoteLiteral("\\'; DROP TABLE x; --")).toBe("E'\\\\''; DROP TABLE x; --'");
    expect(quoteLiteral('$posture$')).toBe("'$posture$'");
    expect(quoteLiteral('')).toBe("''");
    expect(() => quoteLiteral('a\u0000')).toThrow();
    expect(() => quoteLiteral('\uDC00')).toThrow();
  });

  it('generates one re-runnable transaction that forces RLS and re-creates the policy', () => {
    const sql = generateRls(policy, { table: 'documents' });
    expect(sql).toMatch(/^-- Generated/);
    expect(sql.match(/^BEGIN;$/gm)).toHaveLength(1);
    expect(sql.trimEnd().endsWith('COMMIT;')).toBe(true);
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "public".posture_readers');
    expect(sql).toContain('ALTER TABLE "public"."documents" FORCE ROW LEVEL SECURITY;');
    expect(sql).toContain('DROP POLICY IF EXISTS posture_read ON "public"."documents";');
    expect(sql).toContain(`COALESCE(doc_classification, 'internal')`);
    expect(sql).toContain(`('confidential', 'dana')`);
    expect(sql).toContain(`('carol', 'engineering')`);
    expect(sql).toContain('USING ("public".posture_can_read("owner", "groups", "classification"))');
    expect(generateRls(policy, { table: 'documents' })).toBe(sql);
  });

  it('withholds unlabelled rows when the policy has no default', () => {
    const sql = generateRls(policyOf(`${BASE}${RETRIEVAL}`), { table: 'documents' });
    expect(sql).toContain('COALESCE(doc_classification, NULL::text)');
  });

  it('quotes every name it is given', () => {
    const sql = generateRls(policy, {
      table: 'docs"; DROP TABLE x; --',
      schema: 'S"s',
      ownerColumn: 'o"',
      groupsColumn: 'G',
      classificationColumn: 'c c',
      role: 'r"',
    });
    expect(sql).toContain('ALTER TABLE "S""s"."docs""; DROP TABLE x; --" ENABLE ROW LEVEL SECURITY;');
    expect(sql).toContain('USING ("S""s".posture_can_read("o""", "G", "c c"))');
    expect(sql).toContain('FOR SELECT TO "r"""');
    expect(() => generateRls(policy, { table: 'a\nb' })).toThrow();
  });

  it('needs data.retrieval', () => {
    expect(() => generateRls(policyOf(BASE), { table: 'documents' })).toThrow(/data\.retrieval/);
  });
});

import type { PolicyFile } from '../policy/schema.js';
import { compileRetrieval } from './retrieval.js';

// PostgreSQL row-level security generated from `data.retrieval`, with exactly the semantics of
// `RetrievalAccess.canRead` (retrieval.ts). The application sets the acting user per transaction:
//
//   BEGIN;
//   SELECT set_config('posture.user', $1, true);   -- i.e. SET LOCAL posture.user = '<name>'
//   SELECT ... FROM documents ...;
//   COMMIT;
//
// The script keeps the resolved policy in three tables next to the documents table
// (`posture_users`, `posture_user_groups`, `posture_readers`), refreshed on every run, and one
// SECURITY DEFINER function `posture_can_read(owner, groups, classification)` that the SELECT
// policy calls, so the querying role needs no access to the tables. Without `posture.user` set,
// or with a user the policy does not declare, no row is visible.

export interface RlsOptions {
  /** The documents table. */
  table: string;
  /** Its schema, where the helper tables and the function are created too; default `public`. */
  schema?: string;
  /** Column of the owning user (text); default `owner`. */
  ownerColumn?: string;
  /** Column of the group names (text[]); default `groups`. */
  groupsColumn?: string;
  /** Column of the classification (text); default `classification`. */
  classificationColumn?: string;
  /** The role the SELECT policy applies to; default `PUBLIC` (every role subject to RLS). */
  role?: string;
}

/** The name of the SELECT policy the script (re)creates on the table. */
export const RLS_POLICY_NAME = 'posture_read';

// PostgreSQL truncates longer identifiers silently, which could merge two names into one.
const MAX_IDENTIFIER_BYTES = 63;
// Half of a UTF-16 pair alone cannot be encoded as UTF-8; drivers would replace it silently.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Quotes an SQL identifier. Throws on names PostgreSQL would mangle or that could not be a name. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error('an SQL identifier cannot be empty');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw new Error('an SQL identifier cannot contain control characters');
  }
  if (LONE_SURROGATE.test(name)) throw new Error('an SQL identifier must be well-formed Unicode');
  if (utf8Bytes(name) > MAX_IDENTIFIER_BYTES) {
    throw new Error(`an SQL identifier is at most ${MAX_IDENTIFIER_BYTES} bytes; \`${name}\` is longer`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Quotes an SQL string literal. With a backslash it becomes an `E'…'` literal with the backslash
 * doubled, so it reads the same whatever `standard_conforming_strings` says.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\u0000')) throw new Error('an SQL string cannot contain a NUL character');
  if (LONE_SURROGATE.test(value)) throw new Error('an SQL string must be well-formed Unicode');
  const quoted = `'${value.replaceAll("'", "''")}'`;
  return value.includes('\\') ? `E${quoted.replaceAll('\\', '\\\\')}` : quoted;
}

function utf8Bytes(text: string): number {
  let bytes = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/** Dollar-quotes a function body with a tag that does not occur in it. */
function dollarQuote(body: string): string {
  let tag = '$posture$';
  for (let i = 1; body.includes(tag); i++) tag = `$posture_${i}$`;
  return `${tag}${body}${tag}`;
}

/**
 * The SQL script that (re)applies the policy's `data.retrieval` as row-level security on a
 * documents table: helper tables refreshed, the function replaced, RLS enabled and forced, the
 * SELECT policy dropped and re-created, all in one transaction. Re-running it is safe.
 *
 * Roles with BYPASSRLS, and superusers, still see every row; run retrieval as another role. RLS
 * with only a SELECT policy also stops inserts, updates and deletes by roles subject to it
 * (PostgreSQL's default deny): load data with a role that bypasses RLS, or add write policies.
 */
export function generateRls(policy: PolicyFile, options: RlsOptions): string {
  const access = compileRetrieval(policy);
  if (!access) throw new Error('the policy has no `data.retrieval` section');
  const schema = quoteIdent(options.schema ?? 'public');
  const table = `${schema}.${quoteIdent(options.table)}`;
  const owner = quoteIdent(options.ownerColumn ?? 'owner');
  const groups = quoteIdent(options.groupsColumn ?? 'groups');
  const classification = quoteIdent(options.classificationColumn ?? 'classification');
  const role = options.role === undefined ? 'PUBLIC' : quoteIdent(options.role);
  const users = `${schema}.posture_users`;
  const userGroups = `${schema}.posture_user_groups`;
  const readers = `${schema}.posture_readers`;
  const canRead = `${schema}.posture_can_read`;
  const fallback =
    access.defaultClassification === undefined ? 'NULL::text' : quoteLiteral(access.defaultClassification);

  const rows = (values: string[][]) => values.map((v) => `  (${v.map(quoteLiteral).join(', ')})`).join(',\n');
  const insert = (target: string, columns: string, values: string[][]) =>
    values.length === 0 ? [] : [`INSERT INTO ${target} (${columns}) VALUES\n${rows(values)};`];
  const sorted = <T>(items: Iterable<T>) => [...items].sort();
  const userRows = sorted(access.groups.keys()).map((u) => [u]);
  const groupRows = sorted(access.groups.keys()).flatMap((u) =>
    sorted(access.groups.get(u) ?? []).map((g) => [u, g]),
  );
  const readerRows = sorted(access.readers.keys()).flatMap((c) =>
    sorted(access.readers.get(c) ?? []).map((u) => [c, u]),
  );

  // `posture.user` unset is NULL and set to '' after a SET LOCAL ended: neither is a declared user.
  const acting = `current_setting('posture.user', true)`;
  const body = `
  SELECT COALESCE(
    EXISTS (SELECT 1 FROM ${users} u WHERE u.username = ${acting})
    AND (
      doc_owner = ${acting}
      OR (
        EXISTS (
          SELECT 1 FROM ${readers} r
          WHERE r.classification = COALESCE(doc_classification, ${fallback})
            AND r.username = ${acting}
        )
        AND (
          doc_groups IS NULL
          OR cardinality(doc_groups) = 0
          OR (
            NOT EXISTS (SELECT 1 FROM unnest(doc_groups) AS e(name) WHERE e.name IS NULL)
            AND EXISTS (
              SELECT 1 FROM ${userGroups} g
              WHERE g.username = ${acting} AND g.groupname = ANY (doc_groups)
            )
          )
        )
      )
    ),
    false
  )
`;

  return [
    `-- Generated by \`posture rls\` from the policy's data.retrieval; do not edit, re-generate.`,
    `-- Re-runnable: refreshes the helper tables and re-creates the policy in one transaction.`,
    `-- The application sets the acting user per transaction: SELECT set_config('posture.user', $1, true);`,
    `BEGIN;`,
    ``,
    `CREATE TABLE IF NOT EXISTS ${users} (username text PRIMARY KEY);`,
    `CREATE TABLE IF NOT EXISTS ${userGroups} (`,
    `  username text NOT NULL,`,
    `  groupname text NOT NULL,`,
    `  PRIMARY KEY (username, groupname)`,
    `);`,
    `CREATE TABLE IF NOT EXISTS ${readers} (`,
    `  classification text NOT NULL,`,
    `  username text NOT NULL,`,
    `  PRIMARY KEY (classification, username)`,
    `);`,
    `REVOKE ALL ON ${users}, ${userGroups}, ${readers} FROM PUBLIC;`,
    `-- Two runs at once queue here; readers of the tables are not blocked.`,
    `LOCK TABLE ${users}, ${userGroups}, ${readers} IN SHARE ROW EXCLUSIVE MODE;`,
    ``,
    `-- Declared users, their groups (nested groups resolved), and the readers of each classification.`,
    `DELETE FROM ${readers};`,
    `DELETE FROM ${userGroups};`,
    `DELETE FROM ${users};`,
    ...insert(users, 'username', userRows),
    ...insert(userGroups, 'username, groupname', groupRows),
    ...insert(readers, 'classification, username', readerRows),
    ``,
    `-- Owner; or a reader of the classification (${access.defaultClassification === undefined ? 'unlabelled rows are withheld' : 'the default when the row has none'})`,
    `-- in at least one of the row's groups, if it names any. Everything else is withheld.`,
    `CREATE OR REPLACE FUNCTION ${canRead}(doc_owner text, doc_groups text[], doc_classification text)`,
    `RETURNS boolean`,
    `LANGUAGE sql STABLE SECURITY DEFINER`,
    `SET search_path = pg_catalog, pg_temp`,
    `AS ${dollarQuote(body)};`,
    `REVOKE ALL ON FUNCTION ${canRead}(text, text[], text) FROM PUBLIC;`,
    `GRANT EXECUTE ON FUNCTION ${canRead}(text, text[], text) TO ${role};`,
    ``,
    `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;`,
    `ALTER TABLE ${table} FORCE ROW LEVEL SECURITY;`,
    `DROP POLICY IF EXISTS ${RLS_POLICY_NAME} ON ${table};`,
    `CREATE POLICY ${RLS_POLICY_NAME} ON ${table} AS PERMISSIVE FOR SELECT TO ${role}`,
    `  USING (${canRead}(${owner}, ${groups}, ${classification}));`,
    ``,
    `COMMIT;`,
    ``,
  ].join('\n');
}

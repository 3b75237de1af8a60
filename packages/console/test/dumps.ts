// Everything a store keeps, as text, for the contract suites to look for secrets kept in clear.
import Database from 'better-sqlite3';
import type pg from 'pg';

/** Every row of every table in the SQLite file. */
export function dumpSqlite(path: string): string {
  const raw = new Database(path, { readonly: true });
  try {
    const tables = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{
      name: string;
    }>;
    return JSON.stringify(tables.map(({ name }) => raw.prepare(`SELECT * FROM "${name}"`).all()));
  } finally {
    raw.close();
  }
}

/** Every row of every table in the PostgreSQL schema. */
export async function dumpPostgres(admin: pg.Pool, schema: string): Promise<string> {
  const { rows } = await admin.query<{ table_name: string }>(
    'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
    [schema],
  );
  const all = [];
  for (const { table_name } of rows)
    all.push((await admin.query(`SELECT * FROM ${schema}."${table_name}"`)).rows);
  return JSON.stringify(all);
}

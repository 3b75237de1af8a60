// Console users in PostgreSQL, shared by every console replica. Each step is one statement, so
// consoles acting at once cannot interleave inside one: of two adding one name, the INSERT … ON
// CONFLICT DO NOTHING of exactly one inserts; a TOTP step is claimed and a WebAuthn counter moved
// by an UPDATE whose WHERE holds only while the stored value is older (a replayed code or an old
// counter from a cloned authenticator is refused on every replica, whichever saw the real one).
import { resolve } from 'node:path';
import type pg from 'pg';
import { fileKeyring, SecretBox } from '../secrets.js';
import {
  anySealed,
  DEFAULT_CONSOLE_KEY,
  sealingPlan,
  usersOver,
  type ConsoleUsers,
  type ConsoleUsersOptions,
  type CountedRow,
  type Rows,
  type UserRow,
  type WebAuthnCredential,
} from '../users.js';
import { openConsolePool, type PostgresConsoleOptions } from './schema.js';

const USER = `SELECT u.name, u.password_hash, u.roles, u.created_at, u.totp_secret, u.totp_pending,
                     u.totp_last_step,
                     (SELECT count(*) FROM posture_console_credentials c WHERE c.user_name = u.name)
                       AS credential_count
              FROM posture_console_users u`;
const COLUMNS = new Set(['password_hash', 'roles', 'totp_secret', 'totp_pending', 'totp_last_step']);

interface PgUserRow extends Omit<UserRow, 'totp_last_step'> {
  totp_last_step: string | null;
  credential_count: string;
}

interface PgCredentialRow extends Omit<WebAuthnCredential, 'counter' | 'transports'> {
  counter: string;
  transports: string;
}

// bigint and count(*) come back as strings; every value here is far below 2^53.
const toRow = (row: PgUserRow): CountedRow => ({
  ...row,
  totp_last_step: row.totp_last_step === null ? null : Number(row.totp_last_step),
  credential_count: Number(row.credential_count),
});

export type PostgresConsoleUsersOptions = PostgresConsoleOptions & ConsoleUsersOptions;

export async function openPostgresConsoleUsers(options: PostgresConsoleUsersOptions): Promise<ConsoleUsers> {
  const { pool, owned } = await openConsolePool(options, 'the console users store');
  let closed = false;
  const query = <R extends pg.QueryResultRow>(text: string, values: unknown[]) => {
    if (closed) throw new Error('the console users store is closed');
    return pool.query<R>(text, values);
  };
  const rows: Rows = {
    async user(name) {
      const { rows: found } = await query<PgUserRow>(`${USER} WHERE u.name = $1`, [name]);
      return found[0] ? toRow(found[0]) : undefined;
    },
    async users() {
      return (await query<PgUserRow>(`${USER} ORDER BY u.name`, [])).rows.map(toRow);
    },
    async insert(row) {
      const result = await query(
        `INSERT INTO posture_console_users
           (name, password_hash, roles, created_at, totp_secret, totp_pending, totp_last_step)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING`,
        [
          row.name,
          row.password_hash,
          row.roles,
          row.created_at,
          row.totp_secret,
          row.totp_pending,
          row.totp_last_step,
        ],
      );
      return result.rowCount === 1;
    },
    async update(name, change) {
      const keys = Object.keys(change).filter((k) => COLUMNS.has(k));
      if (keys.length === 0) return;
      await query(
        `UPDATE posture_console_users SET ${keys.map((k, i) => `${k} = $${i + 2}`).join(', ')} WHERE name = $1`,
        [name, ...keys.map((k) => change[k as keyof typeof change])],
      );
    },
    async remove(name) {
      return (await query('DELETE FROM posture_console_users WHERE name = $1', [name])).rowCount === 1;
    },
    async claimStep(name, step) {
      const result = await query(
        `UPDATE posture_console_users SET totp_last_step = $2
         WHERE name = $1 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $2)`,
        [name, step],
      );
      return result.rowCount === 1;
    },
    async activateTotp(name, pending, step) {
      const result = await query(
        `UPDATE posture_console_users SET totp_secret = $2, totp_pending = NULL, totp_last_step = $3
         WHERE name = $1 AND totp_pending = $2`,
        [name, pending, step],
      );
      return result.rowCount === 1;
    },
    async credentials(user) {
      const { rows: found } = await query<PgCredentialRow>(
        `SELECT id, user_name AS "user", public_key, counter, transports, created_at
         FROM posture_console_credentials WHERE user_name = $1 ORDER BY created_at, id`,
        [user],
      );
      return found.map((row) => ({
        ...row,
        counter: Number(row.counter),
        transports: JSON.parse(row.transports) as string[],
      }));
    },
    async addCredential(credential) {
      try {
        await query(
          `INSERT INTO posture_console_credentials (id, user_name, public_key, counter, transports, created_at)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [
            credential.id,
            credential.user,
            credential.public_key,
            credential.counter,
            JSON.stringify(credential.transports),
            credential.created_at,
          ],
        );
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === '23505') throw new Error('this credential is already registered');
        if (code === '23503') throw new Error(`no console user \`${credential.user}\``);
        throw error;
      }
    },
    async updateCounter(id, counter) {
      const result = await query(
        `UPDATE posture_console_credentials SET counter = $2
         WHERE id = $1 AND (counter < $2 OR ($2 = 0 AND counter = 0))`,
        [id, counter],
      );
      return result.rowCount === 1;
    },
    async replaceSecret(name, column, from, to) {
      const result = await query(
        `UPDATE posture_console_users SET ${column} = $3 WHERE name = $1 AND ${column} = $2`,
        [name, from, to],
      );
      return result.rowCount === 1;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (owned) await pool.end();
    },
  };
  const box = new SecretBox(fileKeyring(resolve(options.keyFile ?? DEFAULT_CONSOLE_KEY)), async () =>
    anySealed(await rows.users()),
  );
  try {
    for (const { user, column, value, sealed } of sealingPlan(box, await rows.users()))
      await rows.replaceSecret(user, column, value, sealed);
  } catch (error) {
    await rows.close();
    throw error;
  }
  return usersOver(rows, options, box);
}

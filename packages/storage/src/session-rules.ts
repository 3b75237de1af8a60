// What every session store checks before it keeps a record.
import type { SessionRecord, TokenRevocation } from './ports.js';

/** Largest `init` or `plan` kept, as JSON: a client cannot park megabytes in shared state. */
export const MAX_SESSION_JSON = 64 * 1024;

export function checkSessionRecord(record: Omit<SessionRecord, 'version'>, now: number): void {
  for (const field of ['id', 'agent', 'user', 'jti'] as const) {
    if (typeof record[field] !== 'string' || record[field] === '')
      throw new Error(`a session needs a non-empty \`${field}\``);
  }
  if (!Number.isFinite(record.expires_at) || record.expires_at <= now)
    throw new Error('a session must expire after `now`');
  checkSessionJson('init', record.init);
  if (record.plan !== undefined) checkSessionJson('plan', record.plan);
}

/** The value as JSON, refused when it is larger than a session may keep. */
export function checkSessionJson(field: 'init' | 'plan', value: unknown): string {
  const json = JSON.stringify(value ?? null);
  if (json.length > MAX_SESSION_JSON)
    throw new Error(`a session's \`${field}\` is larger than ${MAX_SESSION_JSON} bytes`);
  return json;
}

export function checkRevocation(revocation: TokenRevocation, now: number): void {
  if (revocation.subject !== 'jti' && revocation.subject !== 'agent')
    throw new Error('a revocation is of a `jti` or an `agent`');
  if (typeof revocation.id !== 'string' || revocation.id === '' || revocation.id.length > 1024)
    throw new Error('a revocation needs the id of what it revokes');
  if (!Number.isFinite(revocation.at) || !Number.isFinite(revocation.until) || revocation.until <= now)
    throw new Error('a revocation must last past `now`');
}

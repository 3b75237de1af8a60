import { createHash } from 'node:crypto';
import { canonicalJson } from '@posture/core';

/**
 * Hex SHA-256 of the canonical JSON of the original arguments: what an approval binds to and what
 * the audit event keeps, so the same call hashes the same whatever the key order.
 */
export function argsHash(args: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(args)).digest('hex');
}

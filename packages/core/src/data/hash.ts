// Keyed hashing of redacted values: HMAC-SHA256 with a per-installation key, as Vault's audit
// devices do, so that equal values correlate across events without being stored.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/** The first 16 hex digits (64 bits) of HMAC-SHA256(key, UTF-8 of value). */
export function hashValue(key: Uint8Array, value: string): string {
  if (!(key instanceof Uint8Array) || key.length === 0)
    throw new TypeError('the hash key must be non-empty bytes');
  return bytesToHex(hmac(sha256, key, utf8ToBytes(value))).slice(0, 16);
}

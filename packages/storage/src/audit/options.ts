// Options every audit log backend takes, and how they read them.
import { randomBytes } from 'node:crypto';
import type { EvidenceRedactionOptions } from './redaction.js';

/** When a log signs a checkpoint by itself (besides `checkpoint()` and `close()`). */
export interface CheckpointEvery {
  /** After a batch that leaves at least this many events unsigned. */
  events?: number;
  /** On a timer, if the log grew since the last checkpoint. */
  ms?: number;
}

export interface AuditLogOptions {
  /** The signer key text (`PRIVATE+KEY+…`); each backend says where it keeps one otherwise. */
  signerKey?: string;
  /** The checkpoints' origin line for a new log; an existing log keeps the origin it has. */
  origin?: string;
  checkpointEvery?: CheckpointEvery;
  /** Sign a checkpoint on close if the log grew since the last one (default true). */
  checkpointOnClose?: boolean;
  /** At most this many events per transaction (default 1000). */
  maxBatch?: number;
  /**
   * How events are redacted before they are stored. Always on: the built-in secret and
   * personal-data detector masks what it finds in `args`, `detail` and reason messages.
   */
  redaction?: EvidenceRedactionOptions;
}

/** A fresh origin: unique per log, a schema-less URL as C2SP tlog-checkpoint recommends. */
export function newOrigin(): string {
  return `posture.local/audit/${randomBytes(6).toString('hex')}`;
}

export function checkCheckpointEvery(every: CheckpointEvery | undefined): void {
  for (const [key, value] of Object.entries(every ?? {})) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
      throw new RangeError(`checkpointEvery.${key} must be a positive integer, got \`${String(value)}\``);
    }
  }
}

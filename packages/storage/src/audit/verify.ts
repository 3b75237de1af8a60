// Verifies an audit log, from a store or from an export, against its signed checkpoints, streaming:
// it keeps the Merkle frontier (O(log n) hashes), never the leaves. It names the first bad index:
//   edited     the event's recomputed leaf differs from the leaf hash stored with it; or, where the
//              stored hash was rewritten too, the root at the next checkpoint differs from the signed
//              one, and the first index of that checkpoint's interval is named
//   deleted    a seq is missing
//   inserted   a seq appears again
//   reordered  a seq appears out of place
//   truncated  a checkpoint signs more events than there are (the first missing index is named)
// and forged checkpoints: a bad signature, an unknown key, a malformed note, another origin, or two
// validly signed checkpoints that cannot both be true (a log must never sign inconsistent ones).
import type { StoredEvent } from '../ports.js';
import { openCheckpoint, parseVerifierKey, type OpenedCheckpoint } from '../merkle/checkpoint.js';
import { MerkleFrontier } from '../merkle/frontier.js';
import { equalHashes, leafHash } from '../merkle/tree.js';
import { STORED_TEXT, storedEventText } from './leaf.js';

export interface VerifyResult {
  ok: boolean;
  /** Events read. */
  checked: number;
  /** Events covered by the largest checkpoint that verified. */
  covered: number;
  /** The log position of the first bad or missing event. */
  firstBadIndex?: number;
  /** The position in the `checkpoints` argument of a checkpoint that is forged or inconsistent. */
  badCheckpoint?: number;
  reason?: string;
}

/** An event to verify; exports and `entries()` also carry the leaf hash the store kept (hex). */
export type VerifiableEvent = StoredEvent & { leaf_hash?: unknown };

interface Expected extends OpenedCheckpoint {
  /** Position in the caller's list. */
  at: number;
}

class Failure {
  constructor(readonly result: Omit<VerifyResult, 'ok' | 'checked' | 'covered'>) {}
}

/**
 * Verifies `events` (in log order) against checkpoint notes signed by one of `verifierKeys`.
 * A log with events and no valid checkpoint does not verify: nothing proves what it held.
 */
export async function verifyLog(
  events: AsyncIterable<VerifiableEvent> | Iterable<VerifiableEvent>,
  checkpoints: readonly string[],
  verifierKeys: readonly string[],
): Promise<VerifyResult> {
  const verifiers = verifierKeys.map((key) => parseVerifierKey(key));
  let expected: Expected[];
  try {
    expected = openAll(checkpoints, verifiers);
  } catch (error) {
    if (error instanceof Failure) return { ok: false, checked: 0, covered: 0, ...error.result };
    throw error;
  }

  const frontier = new MerkleFrontier();
  let next = 0; // the next checkpoint to meet
  let covered = 0;
  /** The first checkpoint whose root differed from the events; judged when a later one is met. */
  let mismatch: { checkpoint: Expected; from: number } | undefined;

  const fail = (result: Omit<VerifyResult, 'ok' | 'checked' | 'covered'>): VerifyResult => ({
    ok: false,
    checked: frontier.size,
    covered,
    ...result,
  });
  const intervalFailure = (m: { checkpoint: Expected; from: number }) =>
    fail({
      firstBadIndex: m.from,
      reason:
        `the events in [${m.from}, ${m.checkpoint.size}) do not hash to the root checkpoint ${m.checkpoint.at} signs ` +
        `(size ${m.checkpoint.size}): an event at or after index ${m.from} was edited, inserted or replaced`,
    });

  /** Compares the checkpoints of the current size with the tree; undefined to go on. */
  const meetCheckpoints = (): VerifyResult | undefined => {
    while (next < expected.length && expected[next]!.size === frontier.size) {
      const checkpoint = expected[next++]!;
      if (equalHashes(frontier.root(), checkpoint.rootHash)) {
        if (mismatch !== undefined) {
          // The events agree with this later checkpoint, so the earlier signed root was never true.
          return fail({
            badCheckpoint: mismatch.checkpoint.at,
            reason:
              `checkpoint ${mismatch.checkpoint.at} (size ${mismatch.checkpoint.size}) is not consistent with ` +
              `checkpoint ${checkpoint.at} (size ${checkpoint.size}): the log signed two different histories`,
          });
        }
        covered = checkpoint.size;
      } else {
        mismatch ??= { checkpoint, from: covered };
      }
    }
    return undefined;
  };

  const visit = (event: VerifiableEvent): VerifyResult | undefined => {
    const position = frontier.size;
    const seq = (event as { seq?: unknown }).seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
      return fail({
        firstBadIndex: position,
        reason: `the event at position ${position} has no valid \`seq\``,
      });
    }
    if (seq !== position) {
      if (mismatch !== undefined) return intervalFailure(mismatch);
      return fail(
        seq < position
          ? {
              firstBadIndex: seq,
              reason: `seq ${seq} appears again at position ${position}: an event was inserted or the log reordered`,
            }
          : {
              firstBadIndex: position,
              reason: `expected seq ${position}, found ${seq}: events were deleted or the log reordered`,
            },
      );
    }
    // From a store, the bytes it kept are hashed as they are; other events are serialised.
    const kept = (event as { [STORED_TEXT]?: unknown })[STORED_TEXT];
    const text = typeof kept === 'string' ? kept : storedEventText(event);
    const leaf = leafHash(text);
    const stored = event.leaf_hash;
    if (stored !== undefined && (typeof stored !== 'string' || stored !== leaf.toString('hex'))) {
      if (mismatch !== undefined) return intervalFailure(mismatch);
      return fail({
        firstBadIndex: position,
        reason: `event ${position} was edited: its content does not hash to the leaf hash stored with it`,
      });
    }
    frontier.append(leaf);
    return meetCheckpoints();
  };

  const early = meetCheckpoints();
  if (early !== undefined) return early;
  if (Symbol.iterator in events) {
    for (const event of events) {
      const result = visit(event);
      if (result !== undefined) return result;
    }
  } else {
    for await (const event of events) {
      const result = visit(event);
      if (result !== undefined) return result;
    }
  }

  if (mismatch !== undefined) return intervalFailure(mismatch);
  if (next < expected.length) {
    const checkpoint = expected[expected.length - 1]!;
    return fail({
      firstBadIndex: frontier.size,
      reason:
        `checkpoint ${checkpoint.at} signs ${checkpoint.size} events, the log has ${frontier.size}: ` +
        `the events from index ${frontier.size} on are missing (truncated)`,
    });
  }
  if (expected.length === 0 && frontier.size > 0) {
    return fail({
      reason: `no signed checkpoint: nothing proves what the log held (${frontier.size} events)`,
    });
  }
  return { ok: true, checked: frontier.size, covered };
}

/** Opens every note and orders the checkpoints by size; same-size checkpoints must agree. */
function openAll(notes: readonly string[], verifiers: ReturnType<typeof parseVerifierKey>[]): Expected[] {
  const opened: Expected[] = notes.map((note, at) => {
    try {
      return { ...openCheckpoint(note, verifiers), at };
    } catch (error) {
      throw new Failure({
        badCheckpoint: at,
        reason: `checkpoint ${at} is not valid: ${(error as Error).message}`,
      });
    }
  });
  const origin = opened[0]?.origin;
  for (const checkpoint of opened) {
    if (checkpoint.origin !== origin) {
      throw new Failure({
        badCheckpoint: checkpoint.at,
        reason: `checkpoint ${checkpoint.at} is for log \`${checkpoint.origin}\`, not \`${origin}\``,
      });
    }
  }
  opened.sort((a, b) => a.size - b.size || a.at - b.at);
  for (let i = 1; i < opened.length; i++) {
    const [a, b] = [opened[i - 1]!, opened[i]!];
    if (a.size === b.size && !equalHashes(a.rootHash, b.rootHash)) {
      throw new Failure({
        badCheckpoint: b.at,
        reason: `checkpoints ${a.at} and ${b.at} sign different roots for size ${a.size}: the log signed two different histories`,
      });
    }
  }
  return opened;
}

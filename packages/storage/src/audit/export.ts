// The export format of `posture audit export`, one file that verifies offline with only the log's
// verifier key. JSON lines:
//   one line per event, in seq order: the stored event with `seq` and `leaf_hash` (hex) fields
//   then one line per checkpoint, by size: `{"checkpoint":"<signed note>"}`
// An event never has a top-level `checkpoint` field alone, so the two shapes cannot be confused.
// Checkpoint lines come last because a live log is exported while it grows; a verifier reads the
// file twice, first for the checkpoints, then streaming the events against them.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { AuditLog } from '../ports.js';
import { verifyLog, type VerifiableEvent, type VerifyResult } from './verify.js';

export interface ExportOptions {
  /** Sign a checkpoint of the current size first, so the export is covered to its end (default true). */
  checkpoint?: boolean;
}

/**
 * The lines of an export of `log` (without newlines): the events up to the latest checkpoint and
 * every checkpoint up to that size. Events appended meanwhile belong to the next export.
 */
export async function* exportAuditLog(log: AuditLog, options: ExportOptions = {}): AsyncGenerator<string> {
  const latest = options.checkpoint === false ? await log.latestCheckpoint() : await log.checkpoint();
  const size = latest?.size ?? 0;
  let count = 0;
  if (size > 0) {
    for await (const event of log.entries(0)) {
      yield JSON.stringify(event);
      if (++count === size) break;
    }
  }
  for (const checkpoint of await log.checkpoints()) {
    if (checkpoint.size <= size) yield JSON.stringify({ checkpoint: checkpoint.note });
  }
}

const CHECKPOINT_LINE = '{"checkpoint":';

/** The note of a checkpoint line, or undefined for any other line. */
export function checkpointOfLine(line: string): string | undefined {
  if (!line.startsWith(CHECKPOINT_LINE)) return undefined;
  try {
    const value = JSON.parse(line) as unknown;
    if (typeof value !== 'object' || value === null) return undefined;
    const keys = Object.keys(value);
    const note = (value as { checkpoint?: unknown }).checkpoint;
    return keys.length === 1 && typeof note === 'string' ? note : undefined;
  } catch {
    return undefined;
  }
}

type Lines = AsyncIterable<string> | Iterable<string>;

export interface VerifyExportOptions {
  /**
   * Checkpoints kept apart from the export (a copy published or stored off-box), checked after
   * the export's own: they catch an export cut short together with its checkpoint lines.
   */
  checkpoints?: readonly string[];
}

/**
 * Verifies an export. `lines` is called twice (checkpoints first, then events), so it must
 * return a fresh iteration of the same lines each time.
 */
export async function verifyExport(
  lines: () => Lines,
  verifierKeys: readonly string[],
  options: VerifyExportOptions = {},
): Promise<VerifyResult> {
  const checkpoints: string[] = [];
  for await (const line of lines()) {
    const note = checkpointOfLine(line);
    if (note !== undefined) checkpoints.push(note);
  }
  let badLine: { number: number; position: number } | undefined;
  async function* events(): AsyncGenerator<VerifiableEvent> {
    let number = 0;
    let position = 0;
    for await (const line of lines()) {
      number++;
      if (line.trim() === '' || checkpointOfLine(line) !== undefined) continue;
      let event: unknown;
      try {
        event = JSON.parse(line);
      } catch {
        event = undefined;
      }
      if (typeof event !== 'object' || event === null || Array.isArray(event)) {
        badLine ??= { number, position };
        // The verifier reports an event without a seq at this position.
        yield {} as VerifiableEvent;
      } else {
        yield event as VerifiableEvent;
      }
      position++;
    }
  }
  const result = await verifyLog(events(), [...checkpoints, ...(options.checkpoints ?? [])], verifierKeys);
  if (badLine !== undefined && result.firstBadIndex === badLine.position) {
    result.reason = `line ${badLine.number} is not a JSON object (log position ${badLine.position})`;
  }
  return result;
}

/** Verifies an export file (see `verifyExport`). */
export async function verifyExportFile(
  path: string,
  verifierKeys: readonly string[],
  options: VerifyExportOptions = {},
): Promise<VerifyResult> {
  const lines = () => createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  return verifyExport(lines, verifierKeys, options);
}

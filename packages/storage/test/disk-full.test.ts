// A disk that really fills up: the SQLite audit log on a small tmpfs (root mounts one here). An
// append that cannot be written is rejected, nothing acknowledged is lost, the log still verifies,
// and once there is room again the log goes on. Where tmpfs cannot be mounted (not root, no
// CAP_SYS_ADMIN) the suite is skipped with the reason printed, except in CI, where it fails.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLog } from '../src/audit/verify.js';
import { openSqliteAuditLog } from '../src/sqlite/audit-log.js';
import { sampleEvent } from './support/events.js';

const ci = process.env.CI !== undefined && !['', '0', 'false'].includes(process.env.CI);
const mountPoint = mkdtempSync(join(tmpdir(), 'posture-disk-full-'));

function tryMount(): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return String((error as { stderr?: Buffer }).stderr ?? error).trim();
  }
}

const problem = tryMount();
const skip = problem !== undefined && !ci;
if (skip) console.warn(`skipping the disk-full tests: cannot mount a tmpfs at ${mountPoint}: ${problem}`);

describe.skipIf(skip)('the audit log on a full disk', () => {
  beforeAll(() => {
    if (problem !== undefined) throw new Error(`cannot mount a tmpfs: ${problem}`);
  });

  afterAll(() => {
    if (problem === undefined) execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('rejects what it cannot write, keeps everything it acknowledged, and goes on once there is room', async () => {
    // The key lives elsewhere: only the events compete for the little room there is.
    const keyDir = mkdtempSync(join(tmpdir(), 'posture-disk-full-key-'));
    const log = await openSqliteAuditLog({
      path: join(mountPoint, 'posture.db'),
      keyFile: join(keyDir, 'audit.key'),
    });
    // Fill the disk but for a few hundred kilobytes.
    const filler = join(mountPoint, 'filler');
    writeFileSync(filler, Buffer.alloc(1536 * 1024));
    const acknowledged: number[] = [];
    let failure: unknown;
    for (let i = 0; i < 20_000 && failure === undefined; i++) {
      // Batches of 32 concurrent appends, as a busy gateway would send them.
      const results = await Promise.allSettled(
        Array.from({ length: 32 }, (_, k) =>
          log.append(sampleEvent(i * 32 + k, { detail: { pad: 'x'.repeat(512) } })),
        ),
      );
      for (const result of results) {
        if (result.status === 'fulfilled') acknowledged.push(result.value.seq);
        else failure ??= result.reason;
      }
    }
    expect(String(failure)).toMatch(/full|SQLITE_FULL|ENOSPC|no space/i);
    expect(acknowledged.length).toBeGreaterThan(0);
    console.info(`disk full after ${acknowledged.length} events: ${String(failure)}`);

    // Every acknowledged event is there, in order, and nothing else.
    const stored = [];
    for await (const entry of log.entries()) stored.push(entry.seq);
    expect(stored).toEqual([...acknowledged].sort((a, b) => a - b));

    // Room again: the log takes writes and verifies over everything it holds.
    rmSync(filler);
    const next = await log.append(sampleEvent(999_999));
    expect(next.seq).toBe(acknowledged.length);
    await log.checkpoint();
    const verified = await verifyLog(
      log.entries(),
      (await log.checkpoints()).map((c) => c.note),
      [log.verifierKey],
    );
    expect(verified).toMatchObject({ ok: true, checked: acknowledged.length + 1 });
    await log.close();
    rmSync(keyDir, { recursive: true, force: true });
  });
});

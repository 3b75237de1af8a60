// The contract every SessionStore backend must pass: a session reads back as opened; a token opens
// one session — a second open with it is a replay, from this store or another on the same
// location, at once or later — until the token expires; plan updates are compare-and-set and keep
// the plan's JSON exactly; ended and expired sessions are gone; bad records are refused.
import { describe, expect, it } from 'vitest';
import type { SessionRecord, SessionStore } from '../../src/ports.js';

export interface SessionsBackend {
  /** A new, empty location; `open` may be called more than once on it (other processes, restarts). */
  fresh(): Promise<{ open(): Promise<SessionStore> }>;
}

const NOW = 1_800_000_000_000;
let ids = 0;

function record(overrides: Partial<SessionRecord> = {}): Omit<SessionRecord, 'version'> {
  const n = ++ids;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    agent: 'helper',
    user: 'alice',
    jti: `jti-${n}-${Math.random().toString(36).slice(2)}`,
    expires_at: NOW + 15 * 60_000,
    init: {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: { elicitation: {} },
        clientInfo: { name: 'c', version: '1' },
      },
    },
    ...overrides,
  };
}

export function defineSessionsContract(backend: SessionsBackend): void {
  const withStore = async (
    body: (store: SessionStore, open: () => Promise<SessionStore>) => Promise<void>,
  ) => {
    const location = await backend.fresh();
    const store = await location.open();
    const others: SessionStore[] = [];
    try {
      await body(store, async () => {
        const other = await location.open();
        others.push(other);
        return other;
      });
    } finally {
      for (const other of others) await other.close();
      await store.close();
    }
  };

  describe('session store contract', () => {
    it('reads a session back as it was opened', () =>
      withStore(async (store) => {
        const input = record();
        const opened = await store.open(input, NOW);
        expect(opened.ok).toBe(true);
        const read = await store.get(input.id, NOW + 1);
        expect(read).toEqual({ ...input, version: expect.any(Number) });
        expect(read!.plan).toBeUndefined();
        expect(await store.get('00000000-0000-4000-8000-ffffffffffff', NOW)).toBeUndefined();
      }));

    it('refuses a second session with the same token, naming the first', () =>
      withStore(async (store) => {
        const first = record();
        const second = record({ jti: first.jti });
        await store.open(first, NOW);
        expect(await store.open(second, NOW + 1000)).toEqual({
          ok: false,
          code: 'replay',
          session: first.id,
        });
        expect(await store.get(second.id, NOW + 1000)).toBeUndefined();
      }));

    it('lets exactly one of many concurrent opens with one token through, across stores', () =>
      withStore(async (store, openAnother) => {
        const other = await openAnother();
        const jti = record().jti;
        const attempts = Array.from({ length: 12 }, () => record({ jti })).map((input, i) =>
          (i % 2 === 0 ? store : other).open(input, NOW),
        );
        const results = await Promise.all(attempts);
        const winners = results.filter((result) => result.ok);
        expect(winners).toHaveLength(1);
        const winner = winners[0]!.ok ? winners[0]!.session.id : '';
        for (const result of results) if (!result.ok) expect(result.session).toBe(winner);
        expect(await other.get(winner, NOW)).toBeDefined();
      }));

    it('shares sessions and spent tokens with every store on the location, and after a restart', () =>
      withStore(async (store, openAnother) => {
        const input = record();
        await store.open(input, NOW);
        await store.close();
        const restarted = await openAnother();
        expect((await restarted.get(input.id, NOW))?.jti).toBe(input.jti);
        expect((await restarted.open(record({ jti: input.jti }), NOW)).ok).toBe(false);
      }));

    it('forgets a session and its token binding once the token has expired', () =>
      withStore(async (store) => {
        const input = record({ expires_at: NOW + 1000 });
        await store.open(input, NOW);
        expect(await store.get(input.id, NOW + 999)).toBeDefined();
        expect(await store.get(input.id, NOW + 1000)).toBeUndefined();
        expect(await store.plan(input.id, NOW + 1000)).toBeUndefined();
        expect(await store.setPlan(input.id, { goal: 'late' }, 1, NOW + 1000)).toBeUndefined();
        // The token can no longer be used anyway; the binding going with it keeps the store small.
        expect((await store.open(record({ jti: input.jti, expires_at: NOW + 5000 }), NOW + 1000)).ok).toBe(
          true,
        );
      }));

    it('ends a session on request, and its token stays spent', () =>
      withStore(async (store) => {
        const input = record();
        await store.open(input, NOW);
        await store.end(input.id);
        expect(await store.get(input.id, NOW)).toBeUndefined();
        expect(await store.open(record({ jti: input.jti }), NOW)).toMatchObject({
          ok: false,
          code: 'replay',
        });
        await store.end(input.id); // twice is harmless
      }));

    it('updates the plan only on the version read, keeping its JSON exactly', () =>
      withStore(async (store) => {
        const input = record();
        await store.open(input, NOW);
        const read = (await store.get(input.id, NOW))!;
        const plan = {
          goal: 'refund',
          steps: [{ tool: 'shop/refund', args: { items: [], note: {}, amount: 12.5, unicode: 'é✓' } }],
          done: [false],
        };
        const updated = await store.setPlan(input.id, plan, read.version, NOW);
        expect(updated?.plan).toEqual(plan);
        expect(updated!.version).not.toBe(read.version);
        expect((await store.get(input.id, NOW))?.plan).toEqual(plan);
        expect(await store.plan(input.id, NOW)).toEqual({ plan, version: updated!.version });
        // A writer still holding the old version loses, and changes nothing.
        expect(await store.setPlan(input.id, { goal: 'other' }, read.version, NOW)).toBeUndefined();
        expect((await store.get(input.id, NOW))?.plan).toEqual(plan);
        const cleared = await store.setPlan(input.id, undefined, updated!.version, NOW);
        expect(cleared).toBeDefined();
        expect((await store.get(input.id, NOW))?.plan).toBeUndefined();
        expect(await store.plan(input.id, NOW)).toEqual({ version: cleared!.version });
        expect(await store.plan('00000000-0000-4000-8000-eeeeeeeeeeee', NOW)).toBeUndefined();
        expect(await store.setPlan('00000000-0000-4000-8000-eeeeeeeeeeee', plan, 1, NOW)).toBeUndefined();
      }));

    it('lets one of two stores racing on one version update the plan', () =>
      withStore(async (store, openAnother) => {
        const other = await openAnother();
        const input = record();
        await store.open(input, NOW);
        const { version } = (await store.get(input.id, NOW))!;
        const results = await Promise.all([
          store.setPlan(input.id, { goal: 'a' }, version, NOW),
          other.setPlan(input.id, { goal: 'b' }, version, NOW),
        ]);
        expect(results.filter(Boolean)).toHaveLength(1);
        const won = results.find(Boolean)!;
        expect((await other.get(input.id, NOW))?.plan).toEqual(won.plan);
      }));

    it('refuses records it should not keep', () =>
      withStore(async (store) => {
        await expect(store.open(record({ jti: '' }), NOW)).rejects.toThrow('non-empty `jti`');
        await expect(store.open(record({ agent: '' }), NOW)).rejects.toThrow('non-empty `agent`');
        await expect(store.open(record({ expires_at: NOW }), NOW)).rejects.toThrow('expire after');
        await expect(store.open(record({ init: 'x'.repeat(70_000) }), NOW)).rejects.toThrow('larger than');
        const input = record();
        await store.open(input, NOW);
        await expect(store.setPlan(input.id, { goal: 'x'.repeat(70_000) }, 1, NOW)).rejects.toThrow(
          'larger than',
        );
      }));

    it('keeps revocations until they no longer matter, shared by every store on the location', () =>
      withStore(async (store, openAnother) => {
        const other = await openAnother();
        await store.revoke({ subject: 'jti', id: 'stolen', at: NOW, until: NOW + 60_000 }, NOW);
        await store.revoke({ subject: 'agent', id: 'helper', at: NOW, until: NOW + 3_600_000 }, NOW);
        // Again, earlier and shorter: the later `at` and `until` stay.
        await other.revoke({ subject: 'agent', id: 'helper', at: NOW - 5000, until: NOW + 1000 }, NOW);
        await other.revoke({ subject: 'agent', id: 'helper', at: NOW + 2000, until: NOW + 3000 }, NOW + 2000);
        const sorted = async (s: SessionStore, now: number) =>
          (await s.revocations(now)).sort((a, b) => (a.subject + a.id < b.subject + b.id ? -1 : 1));
        expect(await sorted(other, NOW + 2000)).toEqual([
          { subject: 'agent', id: 'helper', at: NOW + 2000, until: NOW + 3_600_000 },
          { subject: 'jti', id: 'stolen', at: NOW, until: NOW + 60_000 },
        ]);
        expect(await sorted(store, NOW + 60_000)).toEqual([
          { subject: 'agent', id: 'helper', at: NOW + 2000, until: NOW + 3_600_000 },
        ]);
        expect(await store.revocations(NOW + 3_600_000)).toEqual([]);
        await expect(store.revoke({ subject: 'jti', id: 'x', at: NOW, until: NOW }, NOW)).rejects.toThrow(
          'past `now`',
        );
        await expect(
          store.revoke({ subject: 'user' as 'jti', id: 'x', at: NOW, until: NOW + 1 }, NOW),
        ).rejects.toThrow('`jti` or an `agent`');
        await expect(store.revoke({ subject: 'jti', id: '', at: NOW, until: NOW + 1 }, NOW)).rejects.toThrow(
          'the id of what it revokes',
        );
      }));
  });
}

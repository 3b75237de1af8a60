// The contract every Counters backend must pass: decisions through `stateKeys` + `transact` +
// `decide()` agree with plain memory state on the whole decision corpus; records persist between
// transactions and expire (rate windows, idle sessions); nothing is written by a transaction that
// changed nothing or threw; concurrent transactions never both take the last slot; and, for
// shared backends, rate limits, loop detection and session budgets hold across several processes
// hammering one store at once.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  compile,
  createMemoryState,
  decide,
  loadPolicy,
  stateKeys,
  type CompiledPolicy,
  type DecisionRequest,
  type StateKeys,
} from '@posture/core';
import type { CountersOptions } from '../../src/counter-records.js';
import type { Counters } from '../../src/ports.js';
import { loadCases } from '../../../../test/cases/load.js';

/** One store location (a key prefix, a schema); opening it again is a restart for shared backends. */
export interface CountersLocation {
  open(options?: CountersOptions): Promise<Counters>;
  /** How a separate Node process opens this location: module URL, opener, arguments (JSON). */
  child?: { module: string; opener: string; args: unknown[] };
  /**
   * Shared backends: synchronously, as another process would, commits a new version of the record
   * with this id (`r:"key"`), holding `json` — so a transaction running meanwhile conflicts.
   */
  interfere?: (id: string, json: string) => void;
}

export interface CountersBackend {
  /** Whether records outlive the store and are shared between processes (Redis, PostgreSQL). */
  shared: boolean;
  fresh(): Promise<CountersLocation>;
}

const T0 = 1_900_000_000_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const POLICY = `version: 1
users:
  alice: {}
agents:
  rate-bot:
    owner: alice
    run_by: [alice]
    grants:
      - tools: [echo/*]
    limits: { rate: 20/h }
  loop-bot:
    owner: alice
    run_by: [alice]
    grants:
      - tools: [echo/*]
    limits: { loop: { repeats: 3, within: 1m } }
  budget-bot:
    owner: alice
    run_by: [alice]
    grants:
      - tools: [echo/*]
    limits: { max_calls: 7 }
  window-bot:
    owner: alice
    run_by: [alice]
    grants:
      - tools: [echo/say]
        rate: 2/10s
      - tools: [echo/fetch]
  plain-bot:
    owner: alice
    run_by: [alice]
    grants:
      - tools: [echo/say]
servers:
  echo:
    tools:
      say: { tier: 1, access: read, description: Says what it is given }
      fetch: { tier: 1, access: read, description: Fetches a page, returns: [untrusted] }
`;

function compilePolicy(text: string): CompiledPolicy {
  const { policy, problems } = loadPolicy(text, 'counters-contract');
  if (!policy) throw new Error(`the contract policy does not load: ${JSON.stringify(problems)}`);
  return compile(policy);
}

/** Decides one call the way the enforcer does: keys first, then decide() inside a transaction. */
async function decideVia(
  counters: Counters,
  compiled: CompiledPolicy,
  request: DecisionRequest,
  now: number,
) {
  return counters.transact(stateKeys(request, compiled), now, (state) =>
    decide(request, compiled, state, { now }),
  );
}

const say = (agent: string, extra: Partial<DecisionRequest> = {}): DecisionRequest => ({
  agent,
  user: 'alice',
  tool: 'echo/say',
  args: { text: 'hi' },
  session: 's-1',
  ...extra,
});

const sessionKeys = (session: string): StateKeys => ({ session, rates: [] });
const rateKeys = (key: string, windowMs: number): StateKeys => ({
  session: undefined,
  rates: [{ key, windowMs }],
});

export function defineCountersContract(backend: CountersBackend): void {
  const compiled = compilePolicy(POLICY);
  let location: CountersLocation;
  const opened: Counters[] = [];
  const open = async (options?: CountersOptions) => {
    const counters = await location.open(options);
    opened.push(counters);
    return counters;
  };

  describe('one process', () => {
    beforeAll(async () => {
      location = await backend.fresh();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((counters) => counters.close()));
      location = await backend.fresh();
    });

    it('decides the whole decision corpus exactly as plain memory state does', async () => {
      for (const file of loadCases()) {
        // A store per file, as the corpus runner keeps a state per file.
        const counters = await (await backend.fresh()).open();
        opened.push(counters);
        const corpus = compilePolicy(file.policyText);
        const plain = createMemoryState();
        for (const c of file.requests) {
          const expected = decide(c.request, corpus, plain, { now: c.at });
          const actual = await decideVia(counters, corpus, c.request, c.at);
          expect(actual, `${file.name}: ${c.name}`).toEqual(expected);
        }
        await counters.close();
      }
    });

    it('runs a call that needs no state on a state that holds no record', async () => {
      const counters = await open();
      const request = say('plain-bot');
      expect(stateKeys(request, compiled)).toEqual({ session: undefined, rates: [] });
      expect((await decideVia(counters, compiled, request, T0)).decision).toBe('allow');
      await expect(
        counters.transact(stateKeys(request, compiled), T0, (state) => state.session('s-1')),
      ).rejects.toThrow('the session `s-1` was not named by stateKeys');
    });

    it('keeps a rate limit between transactions and lets calls through again as the window slides', async () => {
      const counters = await open();
      const request = say('window-bot');
      const verdicts: string[] = [];
      for (const t of [0, 1000, 2000, 9999, 10_000, 10_500, 11_000]) {
        verdicts.push((await decideVia(counters, compiled, request, T0 + t)).decision);
      }
      // 2 per 10 s, sliding: the first two pass, then 10 s after the first the next one passes.
      expect(verdicts).toEqual(['allow', 'allow', 'deny', 'deny', 'allow', 'deny', 'allow']);
    });

    it('shares the agent-wide rate log across sessions and users', async () => {
      const counters = await open();
      const outcomes: string[] = [];
      for (let i = 0; i < 22; i++) {
        const decision = await decideVia(counters, compiled, say('rate-bot', { session: `s-${i}` }), T0 + i);
        outcomes.push(decision.decision === 'allow' ? 'allow' : decision.reasons[0]!.code);
      }
      expect(outcomes).toEqual([...Array(20).fill('allow'), 'limit.rate', 'limit.rate']);
    });

    it('carries session labels to later calls, which data-flow rules read', async () => {
      const counters = await open();
      await decideVia(counters, compiled, say('window-bot', { tool: 'echo/fetch', session: 'web' }), T0);
      const labels = await counters.transact(sessionKeys('web'), T0 + 1, (state) => [
        ...state.session('web').labels,
      ]);
      expect(labels).toEqual(['untrusted']);
      const other = await counters.transact(sessionKeys('other'), T0 + 1, (state) => state.session('other'));
      expect(other).toEqual({ calls: 0, labels: [], history: [] });
    });

    it('detects a loop across transactions, and the loop window slides', async () => {
      const counters = await open();
      const request = say('loop-bot');
      const codes: string[] = [];
      for (const t of [0, 1, 2, 3, MINUTE + 1]) {
        const decision = await decideVia(counters, compiled, request, T0 + t);
        codes.push(decision.decision === 'allow' ? 'allow' : decision.reasons[0]!.code);
      }
      expect(codes).toEqual(['allow', 'allow', 'allow', 'loop.repeat', 'allow']);
    });

    it('forgets a rate log once its window has passed since it was last written', async () => {
      const counters = await open();
      const keys = rateKeys('k', 1000);
      await counters.transact(keys, T0, (state) => {
        state.rateLog('k').times.push(T0);
        state.rateLog('k').next = 1;
      });
      const read = (now: number) => counters.transact(keys, now, (state) => ({ ...state.rateLog('k') }));
      expect(await read(T0 + 999)).toEqual({ times: [T0], next: 1 });
      expect(await read(T0 + 1000)).toEqual({ times: [], next: 0 });
    });

    it('forgets a session idle for the session TTL, and a write keeps it alive', async () => {
      const counters = await open({ sessionTtlMs: 1000 });
      const keys = sessionKeys('idle');
      const touch = (now: number) =>
        counters.transact(keys, now, (state) => void state.session('idle').calls++);
      const calls = (now: number) => counters.transact(keys, now, (state) => state.session('idle').calls);
      await touch(T0);
      await touch(T0 + 900);
      expect(await calls(T0 + 1899)).toBe(2);
      // A transaction that changed nothing wrote nothing, so it did not extend the TTL either.
      expect(await calls(T0 + 1900)).toBe(0);
    });

    it('writes nothing when the function throws, and rejects with its error', async () => {
      const counters = await open();
      const keys = sessionKeys('s');
      await expect(
        counters.transact(keys, T0, (state) => {
          state.session('s').calls = 5;
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await counters.transact(keys, T0, (state) => state.session('s').calls)).toBe(0);
    });

    it('refuses records the keys do not name, which decide() turns into a deny', async () => {
      const counters = await open();
      await expect(counters.transact(sessionKeys('a'), T0, (state) => state.session('b'))).rejects.toThrow(
        'the session `b` was not named by stateKeys',
      );
      await expect(counters.transact(sessionKeys('a'), T0, (state) => state.rateLog('a'))).rejects.toThrow(
        'the rate log `a` was not named by stateKeys',
      );
      const request = say('rate-bot');
      const decision = await counters.transact({ session: 's-1', rates: [] }, T0, (state) =>
        decide(request, compiled, state, { now: T0 }),
      );
      expect(decision).toMatchObject({ decision: 'deny', reasons: [{ code: 'internal.error' }] });
    });

    it('keeps ids apart that differ only in kind or in characters a store could mangle', async () => {
      const counters = await open();
      const ids = ['x', 'x\u0000y', 'x\u0000z', 'x:y', '"x"', 'é\u200b'];
      for (const [i, id] of ids.entries()) {
        await counters.transact({ session: id, rates: [{ key: id, windowMs: HOUR }] }, T0, (state) => {
          state.session(id).calls = i + 1;
          state.rateLog(id).times.push(100 + i);
          state.rateLog(id).next = 1;
        });
      }
      for (const [i, id] of ids.entries()) {
        const read = await counters.transact(
          { session: id, rates: [{ key: id, windowMs: HOUR }] },
          T0,
          (state) => [state.session(id).calls, state.rateLog(id).times[0]],
        );
        expect(read).toEqual([i + 1, 100 + i]);
      }
    });

    it('gives the last slot of a rate limit to exactly one of many concurrent calls', async () => {
      const counters = await open();
      const decisions = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          decideVia(counters, compiled, say('rate-bot', { session: `c-${i}` }), T0),
        ),
      );
      expect(decisions.filter((decision) => decision.decision === 'allow')).toHaveLength(20);
      const log = await counters.transact(rateKeys('rate-bot', HOUR), T0, (state) =>
        state.rateLog('rate-bot'),
      );
      expect(log.times).toHaveLength(20);
    });

    it('refuses a time that is not a finite number, and a fractional one is fine', async () => {
      const counters = await open();
      for (const now of [Number.NaN, Number.POSITIVE_INFINITY, '1000' as unknown as number]) {
        await expect(counters.transact(sessionKeys('s'), now, () => 1)).rejects.toThrow(
          /^`now` must be a finite number of milliseconds, not `/,
        );
      }
      const request = say('rate-bot');
      for (let i = 0; i < 21; i++) await decideVia(counters, compiled, request, T0 + i / 3);
      expect((await decideVia(counters, compiled, request, T0 + 7.5)).reasons[0]!.code).toBe('limit.rate');
    });

    it("keeps concurrent transactions apart: one that throws leaves no trace, none reaches another one's records", async () => {
      const counters = await open();
      const keysOf = (i: number): StateKeys => ({
        session: 'shared',
        rates: [{ key: `own-${i}`, windowMs: HOUR }],
      });
      const settled = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          counters.transact(keysOf(i), T0, (state) => {
            state.session('shared').calls++;
            state.rateLog(`own-${i}`).times.push(i);
            state.rateLog(`own-${i}`).next = 1;
            if (i === 3) throw new Error('three fails');
            if (i === 5) state.rateLog('own-4');
            return i;
          }),
        ),
      );
      expect(
        settled.map((result) =>
          result.status === 'fulfilled' ? result.value : (result.reason as Error).message,
        ),
      ).toEqual([0, 1, 2, 'three fails', 4, 'the rate log `own-4` was not named by stateKeys', 6, 7, 8, 9]);
      const read = await counters.transact(
        {
          session: 'shared',
          rates: Array.from({ length: 10 }, (_, i) => ({ key: `own-${i}`, windowMs: HOUR })),
        },
        T0,
        (state) => [
          state.session('shared').calls,
          ...Array.from({ length: 10 }, (_, i) => state.rateLog(`own-${i}`).times.length),
        ],
      );
      expect(read).toEqual([8, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1]);
    });

    it('rejects transactions once closed', async () => {
      const counters = await open();
      await counters.close();
      await expect(counters.transact(sessionKeys('s'), T0, () => 1)).rejects.toThrow(
        'the counters store is closed',
      );
    });

    it('refuses options that make no sense', async () => {
      await expect(location.open({ sessionTtlMs: 0 })).rejects.toThrow(
        '`sessionTtlMs` must be a positive integer, not `0`',
      );
      await expect(location.open({ optimisticAttempts: 1.5 })).rejects.toThrow(
        '`optimisticAttempts` must be a positive integer, not `1.5`',
      );
    });

    if (backend.shared)
      it("commits in the store's turn when other processes win every optimistic attempt", async () => {
        const counters = await open({ optimisticAttempts: 2 });
        const keys = rateKeys('contended', HOUR);
        let runs = 0;
        const ran = await counters.transact(keys, T0, (state) => {
          const log = state.rateLog('contended');
          runs++;
          // Another process commits between this load and this commit, twice; not in the turn.
          if (runs <= 2) location.interfere!('r:"contended"', JSON.stringify({ times: [runs], next: 1 }));
          log.times.push(100);
          log.next = log.times.length;
          return runs;
        });
        expect(ran).toBe(3);
        const log = await counters.transact(keys, T0, (state) => ({ ...state.rateLog('contended') }));
        // The turn's attempt ran on the second interfering write and kept it.
        expect(log).toEqual({ times: [2, 100], next: 2 });
      });

    if (backend.shared)
      it('keeps records when the store is closed and opened again (a restart)', async () => {
        const first = await open();
        for (let i = 0; i < 20; i++) await decideVia(first, compiled, say('rate-bot'), T0 + i);
        await first.close();
        const second = await open();
        expect((await decideVia(second, compiled, say('rate-bot'), T0 + 100)).reasons[0]!.code).toBe(
          'limit.rate',
        );
      });
  });

  if (backend.shared)
    describe('several processes', () => {
      const PROCESSES = 4;
      let children: Child[] = [];

      beforeAll(async () => {
        location = await backend.fresh();
        if (!location.child) throw new Error('a shared backend must say how a child process opens it');
        const spec = location.child;
        children = await Promise.all(Array.from({ length: PROCESSES }, () => startChild(spec, POLICY)));
      }, 120_000);

      afterAll(async () => {
        await Promise.all(children.map((child) => child.stop()));
      });

      /** Every child decides `count` calls at once, 8 in flight each; returns all their outcomes. */
      async function hammer(command: Omit<ChildCommand, 'at' | 'concurrency'>): Promise<string[]> {
        const at = Date.now() + 200;
        const results = await Promise.all(
          children.map((child) => child.run({ ...command, at, concurrency: 8 })),
        );
        return results.flat();
      }

      const tally = (outcomes: string[]) => {
        const counts: Record<string, number> = {};
        for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
        return counts;
      };

      it('admits exactly the rate limit across four processes hammering at once', async () => {
        const outcomes = await hammer({ request: say('rate-bot'), distinct: true, count: 25, now: T0 });
        expect(tally(outcomes)).toEqual({ allow: 20, 'limit.rate': 80 });
      }, 60_000);

      it('detects a loop across processes: the same call runs exactly `repeats` times', async () => {
        const outcomes = await hammer({ request: say('loop-bot', { session: 'loop' }), count: 10, now: T0 });
        expect(tally(outcomes)).toEqual({ allow: 3, 'loop.repeat': 37 });
      }, 60_000);

      it('commits every transaction on one record all processes write, none lost, none starved', async () => {
        const outcomes = await hammer({ hot: true, request: say('plain-bot'), count: 60, now: T0 });
        expect(tally(outcomes)).toEqual({ ok: 240 });
        const counters = await location.open();
        const hot = await counters.transact(
          rateKeys('hot', HOUR),
          T0,
          (state) => state.rateLog('hot').times[0],
        );
        await counters.close();
        expect(hot).toBe(240);
      }, 60_000);

      it('holds a session budget across processes', async () => {
        const outcomes = await hammer({
          request: say('budget-bot', { session: 'budget' }),
          distinct: true,
          count: 10,
          now: T0,
        });
        expect(tally(outcomes)).toEqual({ allow: 7, 'limit.max_calls': 33 });
      }, 60_000);
    });
}

interface ChildCommand {
  hot?: boolean;
  request: DecisionRequest;
  distinct?: boolean;
  count: number;
  concurrency: number;
  now: number;
  at: number;
}

interface Child {
  run(command: ChildCommand): Promise<string[]>;
  stop(): Promise<void>;
}

const REGISTER = fileURLToPath(new URL('../support/ts-register.mjs', import.meta.url));
const CHILD = fileURLToPath(new URL('../support/counters-child.ts', import.meta.url));

async function startChild(
  spec: { module: string; opener: string; args: unknown[] },
  policy: string,
): Promise<Child> {
  const subprocess: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', REGISTER, CHILD, spec.module, spec.opener, JSON.stringify(spec.args), policy],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  subprocess.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiting: Array<(message: { ready?: boolean; outcomes?: string[] }) => void> = [];
  const exited = new Promise<never>((_, reject) =>
    subprocess.once('exit', (code) => reject(new Error(`child process exited with \`${code}\`: ${stderr}`))),
  );
  exited.catch(() => {});
  createInterface({ input: subprocess.stdout }).on('line', (line) => {
    waiting.shift()?.(JSON.parse(line) as { ready?: boolean; outcomes?: string[] });
  });
  const next = () =>
    Promise.race([
      new Promise<{ ready?: boolean; outcomes?: string[] }>((resolve) => waiting.push(resolve)),
      exited,
    ]);
  await next();
  return {
    async run(command) {
      const answer = next();
      subprocess.stdin.write(`${JSON.stringify(command)}\n`);
      const { outcomes } = await answer;
      if (!outcomes) throw new Error('child process answered without outcomes');
      return outcomes;
    },
    async stop() {
      if (subprocess.exitCode !== null) return;
      const done = new Promise<void>((resolve) => subprocess.once('exit', () => resolve()));
      subprocess.stdin.end();
      await done;
    },
  };
}

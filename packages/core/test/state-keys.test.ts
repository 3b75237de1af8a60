// stateKeys() must name every record decide() touches: the whole decision corpus runs against a
// state that holds only the named records (any other access throws, which decide() turns into an
// internal deny), and must decide exactly as it does on plain memory state.
import { describe, expect, it } from 'vitest';
import {
  compile,
  createMemoryState,
  decide,
  loadPolicy,
  stateKeys,
  type DecisionRequest,
  type DecisionState,
} from '../src/index.js';
import { loadCases } from '../../../test/cases/load.js';

/** Memory state that lets decide() reach only the records `keys` names, and counts what it reached. */
function keyedState(inner: DecisionState, request: DecisionRequest, compiled: ReturnType<typeof compile>) {
  const keys = stateKeys(request, compiled);
  const touched: string[] = [];
  const state: DecisionState = {
    session(id) {
      if (id !== keys.session) throw new Error(`session \`${id}\` was not named`);
      touched.push(`session:${id}`);
      return inner.session(id);
    },
    rateLog(key) {
      if (!keys.rates.some((rate) => rate.key === key)) throw new Error(`rate log \`${key}\` was not named`);
      touched.push(`rate:${key}`);
      return inner.rateLog(key);
    },
  };
  return { state, keys, touched };
}

const files = loadCases();

describe('stateKeys', () => {
  for (const file of files) {
    it(`names every record the corpus file ${file.name} touches`, () => {
      const { policy } = loadPolicy(file.policyText, file.name);
      const compiled = compile(policy!);
      const plain = createMemoryState();
      const keyed = createMemoryState();
      for (const c of file.requests) {
        const expected = decide(c.request, compiled, plain, { now: c.at });
        const { state } = keyedState(keyed, c.request, compiled);
        const actual = decide(c.request, compiled, state, { now: c.at });
        expect(actual, `${file.name}: ${c.name}`).toEqual(expected);
      }
    });
  }

  it('names no record for calls that never reach the stateful rules', () => {
    const { policy } = loadPolicy(
      `version: 1
users: { alice: {}, mallory: {} }
agents:
  bot:
    owner: alice
    run_by: [alice]
    grants:
      - tools: [files/read]
        rate: 5/m
      - tools: [files/list]
servers:
  files:
    tools:
      read: { tier: 1, access: read, returns: [untrusted] }
      list: { tier: 1, access: read }
      wipe: { tier: 3, access: write }
limits:
  default: { rate: 10/m }
`,
      'inline',
    );
    const compiled = compile(policy!);
    const none = { session: undefined, rates: [] };
    expect(stateKeys({ agent: 'ghost', user: 'alice', tool: 'files/read' }, compiled)).toEqual(none);
    expect(stateKeys({ agent: 'bot', user: 'mallory', tool: 'files/read' }, compiled)).toEqual(none);
    expect(stateKeys({ agent: 'bot', tool: 'files/read' }, compiled)).toEqual(none);
    expect(stateKeys({ agent: 'bot', user: 'alice', tool: 'files/nope' }, compiled)).toEqual(none);
    // No grant covers the write: the plan is fixed to a deny.
    expect(stateKeys({ agent: 'bot', user: 'alice', tool: 'files/wipe' }, compiled)).toEqual(none);

    expect(stateKeys({ agent: 'bot', user: 'alice', tool: 'files/read', session: 's1' }, compiled)).toEqual({
      session: 's1',
      rates: [
        { key: 'bot', windowMs: 60_000 },
        { key: 'bot\u0000agents.bot.grants[0]', windowMs: 60_000 },
      ],
    });
    // Without a session id, decide() keys the session by agent and user.
    expect(stateKeys({ agent: 'bot', user: 'alice', tool: 'files/list' }, compiled)).toEqual({
      session: 'bot\u0000alice',
      rates: [{ key: 'bot', windowMs: 60_000 }],
    });
  });
});

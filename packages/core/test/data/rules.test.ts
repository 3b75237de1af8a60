import { describe, expect, it } from 'vitest';
import { compile, createMemoryState, decide, loadPolicy } from '../../src/index.js';

const POLICY = `version: 1
users:
  alice: {}
agents:
  bot:
    owner: alice
    run_by: [alice]
    grants:
      - tools: [slack/post]
        access: write
servers:
  slack:
    tools:
      post: { tier: 2, access: write, irreversible: false, external: true }
tiers:
  2: {}
data:
  rules:
    - id: no-secrets-to-chat
      tools: [slack/*]
      direction: in
      block: [secrets]
`;

function decideArgs(args: Record<string, unknown>) {
  const { policy, problems } = loadPolicy(POLICY, 'posture.yaml');
  expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
  const compiled = compile(policy!);
  return decide({ agent: 'bot', user: 'alice', tool: 'slack/post', args }, compiled, createMemoryState(), {
    now: 0,
  });
}

describe('data.rules on bad input', () => {
  it('denies arguments nested deeper than the detector scans, since they may hide a secret', () => {
    let deep: unknown = 'AKIAZ7Q3MEXR4NXW2BTA';
    for (let i = 0; i < 100; i++) deep = { x: deep };
    const decision = decideArgs({ text: deep });
    expect(decision.decision).toBe('deny');
    expect(decision.rules).toEqual(['data.rules.no-secrets-to-chat']);
    expect(decision.reasons[0]!.code).toBe('data.unscanned');
    expect(decision.reasons[0]!.message).toMatch(/^`args\.text(\.x)+` could not be scanned \(depth_limit\)/);
  });

  it('denies cyclic arguments, and allows the same shape without the secret or the cycle', () => {
    const cyclic: Record<string, unknown> = { text: 'hello' };
    cyclic.self = cyclic;
    expect(decideArgs(cyclic).reasons[0]!.code).toBe('data.unscanned');
    expect(decideArgs({ text: 'hello', nested: { a: [1, 2, { b: 'fine' }] } }).decision).toBe('allow');
  });
});

// The hostile-input checklist (reference/security.md §4) against a running gateway: each input
// gets a clear protocol error or a tool error, nothing is forwarded that should not be, and the
// gateway keeps serving afterwards.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteSessionStore } from '@posture/storage';
import { INITIALIZE, startGateway, type TestGateway } from './support/gateway.js';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
const CRASHY = fileURLToPath(new URL('../support/crash-server.js', import.meta.url));

const POLICY = `
version: 1
users:
  alice: { groups: [staff] }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [everything/echo, everything/get-sum, crashy/*]
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
  crashy:
    command: [node, ${JSON.stringify(CRASHY)}]
    tools:
      crash: { tier: 1, access: read }
      echo: { tier: 1, access: read }
limits:
  default: { timeout: 5s }
`;

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(POLICY, { upstream: { backoffMs: 100, maxBackoffMs: 200 } });
}, 30_000);

afterAll(async () => {
  await t?.close();
});

/** Opens a session with raw requests; returns the headers later requests need. */
async function rawSession(): Promise<Record<string, string>> {
  const bearer = await t.token();
  const response = await fetch(t.running.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${bearer}`,
    },
    body: JSON.stringify(INITIALIZE),
  });
  await response.text();
  return {
    authorization: `Bearer ${bearer}`,
    'mcp-session-id': response.headers.get('mcp-session-id')!,
    'mcp-protocol-version': '2025-06-18',
  };
}

async function stillServes() {
  const client = await t.connect(await t.token());
  const result = await client.callTool({ name: 'everything__echo', arguments: { message: 'still here' } });
  expect(JSON.stringify(result.content)).toContain('still here');
}

describe('malformed JSON-RPC', () => {
  it('answers a body that is not JSON with -32700, and keeps serving', async () => {
    const response = await t.post('{"jsonrpc": "2.0", "id": 1, "method": ', {
      authorization: `Bearer ${await t.token()}`,
    });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).error.code).toBe(-32700);
    await stillServes();
  });

  it('refuses batches (-32600): one message per request since MCP 2025-06-18', async () => {
    const response = await t.post([INITIALIZE, INITIALIZE], { authorization: `Bearer ${await t.token()}` });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).error).toMatchObject({
      code: -32600,
      message: expect.stringMatching(/batch/),
    });
  });

  it('refuses a message that is not JSON-RPC 2.0', async () => {
    const response = await t.post(
      { id: 1, method: 'initialize' },
      { authorization: `Bearer ${await t.token()}` },
    );
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).error.code).toBe(-32600);
  });

  it('answers an unknown method with -32601', async () => {
    const headers = await rawSession();
    const response = await t.post({ jsonrpc: '2.0', id: 7, method: 'tools/explode' }, headers);
    expect(response.text).toContain('-32601');
  });

  it('does not burn a token on a first message that is not initialize', async () => {
    const bearer = await t.token();
    const wrong = await t.post(
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { authorization: `Bearer ${bearer}` },
    );
    expect(wrong.status).toBe(400);
    const right = await t.post(INITIALIZE, { authorization: `Bearer ${bearer}` });
    expect(right.status).toBe(200);
  });
});

describe('oversized and deeply nested messages', () => {
  it('answers a body over the size cap with 413', async () => {
    const headers = await rawSession();
    const huge = {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'everything__echo', arguments: { message: 'x'.repeat(2 * 1024 * 1024) } },
    };
    const response = await t.post(huge, headers);
    expect(response.status).toBe(413);
    await stillServes();
  });

  it('refuses nesting deeper than the cap before parsing it', async () => {
    const headers = await rawSession();
    const deep = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"everything__echo","arguments":{"message":"x","extra":${'['.repeat(10_000)}${']'.repeat(10_000)}}}}`;
    const response = await t.post(deep, headers);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).error).toMatchObject({
      code: -32600,
      message: expect.stringMatching(/nested deeper/),
    });
    await stillServes();
  });

  it('passes `__proto__` keys as plain data, polluting nothing', async () => {
    const client = await t.connect(await t.token());
    const args = JSON.parse('{"message": "proto", "__proto__": {"polluted": true}}') as Record<
      string,
      unknown
    >;
    const result = await client.callTool({ name: 'everything__echo', arguments: args });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(result.content)).toContain('proto');
  });
});

describe('arguments that fail the tool’s schema', () => {
  it('answers with a tool error naming the field, forwards nothing, and records the denial', async () => {
    const client = await t.connect(await t.token());
    const before = await t.audit.size();
    const result = await client.callTool({ name: 'everything__get-sum', arguments: { a: 'two', b: 3 } });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toContain('`args.a` must be number');
    const events = await t.audit.read(before, await t.audit.size());
    expect(events.map((e) => [e.outcome, e.reasons?.at(-1)?.code])).toEqual([['denied', 'args.invalid']]);
  });

  it('a missing required argument is named too', async () => {
    const client = await t.connect(await t.token());
    const result = await client.callTool({ name: 'crashy__echo', arguments: {} });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toContain('lack the required `text`');
  });
});

describe('an upstream that dies', () => {
  it('fails the call in flight, fails fast while the server is down, and serves again once restarted', async () => {
    const client = await t.connect(await t.token());
    const before = await t.audit.size();
    const crashed = await client.callTool({ name: 'crashy__crash', arguments: {} });
    expect(crashed.isError).toBe(true);
    expect(JSON.stringify(crashed.content)).toMatch(/the tool failed/);
    const events = await t.audit.read(before, await t.audit.size());
    expect(events.map((e) => e.outcome)).toEqual(['failed']);

    // Supervised: the server comes back by itself, with backoff.
    let answer = '';
    for (let i = 0; i < 50 && !answer.includes('back again'); i++) {
      const result = await client.callTool({ name: 'crashy__echo', arguments: { text: 'back again' } });
      answer = JSON.stringify(result.content);
      if (result.isError) {
        expect(answer).toMatch(/unavailable|failed/);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    expect(answer).toContain('back again');
    expect(t.gateway.upstreamStatus().crashy).toBe('up');
  });
});

describe('refused authentications', () => {
  let quiet: TestGateway;

  beforeAll(async () => {
    quiet = await startGateway(POLICY);
  }, 30_000);

  afterAll(async () => {
    await quiet?.close();
  });

  it('are audit events, at most ten a minute per client address, the rest counted', async () => {
    for (let i = 0; i < 25; i++) {
      const response = await quiet.post(INITIALIZE, { authorization: `Bearer not-a-token-${i}` });
      expect(response.status).toBe(401);
    }
    const events = await quiet.audit.read(0, await quiet.audit.size());
    const refused = events.filter((e) => e.detail?.alert === 'auth.refused');
    expect(refused).toHaveLength(10);
    // The client address is personal data: evidence keeps it redacted (masked; keyed hash in hash mode).
    expect(refused[0]).toMatchObject({
      kind: 'alert',
      outcome: 'denied',
      detail: { remote: '[REDACTED:ipv4]' },
    });
    expect(refused[0]!.detail!.description).toBe('the token is not a compact JWT');
  });
});

describe('the session store unavailable', () => {
  it('opens no session (503), and refuses a call whose plan it cannot read, recording why', async () => {
    const sessions = await openSqliteSessionStore(join(t.dir, 'sessions-going-away.db'));
    const g = await startGateway(POLICY, { sessions });
    try {
      const client = await g.connect(await g.token());
      expect(
        (await client.callTool({ name: 'everything__echo', arguments: { message: 'up' } })).isError,
      ).toBeFalsy();
      await sessions.close(); // as a store that went away answers: every operation fails
      const refused = await client.callTool({ name: 'everything__echo', arguments: { message: 'down' } });
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.content)).toContain('state.unavailable');
      const opening = await g.post(INITIALIZE, { authorization: `Bearer ${await g.token()}` });
      expect(opening.status).toBe(503);
      expect(opening.text).toContain('the session store is unavailable');
      const events = await g.audit.search({ tool: 'everything/echo', kind: 'call' });
      expect(events.map((e) => [e.outcome, e.reasons?.[0]?.code])).toEqual([
        ['allowed', 'grant.allow'],
        ['denied', 'state.unavailable'],
      ]);
    } finally {
      await g.close();
    }
  });
});

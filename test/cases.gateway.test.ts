// The decision corpus through the gateway: the MCP SDK's Client over Streamable HTTP, one MCP
// session per corpus session, each server of the case's policy served by a real upstream process
// (test/support/catalog-server.js). The verdict is read back from the audit event the gateway
// wrote for the call, so the evidence is checked to agree with the decision as well.
//
// Where the gateway answers before any decision — identity at the HTTP layer (401), a tool no
// upstream lists (JSON-RPC -32602) — the decision and reason codes are compared, not rule ids.
// Cases that hand the core session labels directly have no equivalent over MCP (an agent cannot
// declare what its session carries), so their sessions are left out, and listed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile, type Decision, type PolicyFile } from '@posture/core';
import {
  Gateway,
  NAME_SEPARATOR,
  TokenAuthority,
  TokenVerifier,
  loadOrCreateSigningKey,
  serveHttp,
  type RunningGateway,
} from '@posture/gateway';
import {
  createMemoryApprovalQueue,
  createMemoryAuditLog,
  type ApprovalQueue,
  type AuditLog,
} from '@posture/storage';
import { boundOf, compare, loadCasePolicy, preApprove } from './cases/compare.js';
import { loadCases, type Case, type CaseFile } from './cases/load.js';

const CATALOG_SERVER = fileURLToPath(new URL('./support/catalog-server.js', import.meta.url));
const AUDIENCE = 'urn:posture:corpus';

/** The case's policy, with every server reachable: a catalog server listing its declared tools. */
function withUpstreams(policy: PolicyFile): PolicyFile {
  const servers: PolicyFile['servers'] = {};
  for (const [name, server] of Object.entries(policy.servers)) {
    const tools = Object.entries(server.tools ?? {}).map(([tool, override]) => ({
      name: tool,
      inputSchema: override.input_schema ?? { type: 'object' },
    }));
    const { url: _url, ...rest } = server;
    servers[name] = {
      ...rest,
      command: ['node', CATALOG_SERVER],
      env: { POSTURE_TOOLS: JSON.stringify(tools) },
    };
  }
  return { ...policy, servers };
}

/** The sessions whose cases apply over MCP: those where no case hands the core labels. */
function applicable(file: CaseFile): { cases: Array<{ c: Case; index: number }>; left: string[] } {
  const labelled = new Set(file.requests.filter((c) => c.request.labels).map(sessionKey));
  const cases = file.requests
    .map((c, index) => ({ c, index }))
    .filter(({ c }) => !labelled.has(sessionKey(c)));
  const left = file.requests.filter((c) => labelled.has(sessionKey(c))).map((c) => c.name);
  return { cases, left };
}

function sessionKey(c: Case): string {
  return `${c.request.agent}\u0000${c.request.user ?? ''}\u0000${c.request.session ?? ''}`;
}

/** What the 401's description says, as the core's reason code. */
function identityCode(description: string): string {
  if (/agent `[^`]*` is not declared/.test(description)) return 'agent.unknown';
  if (/user `[^`]*` is not declared/.test(description)) return 'user.unknown';
  if (/may not run agent/.test(description)) return 'user.not_allowed';
  if (/names no user/.test(description)) return 'user.missing';
  return `http.401: ${description}`;
}

for (const file of loadCases()) {
  const { cases, left } = applicable(file);
  describe(`gateway: ${file.name}`, () => {
    let dir: string;
    let audit: AuditLog;
    let approvals: ApprovalQueue;
    let gateway: Gateway;
    let running: RunningGateway;
    let authority: TokenAuthority;
    let now = 0;
    let current: Case | undefined;
    let asked = false;
    const clients = new Map<string, { client: Client; session: string }>();

    beforeAll(async () => {
      if (left.length > 0)
        console.info(`gateway corpus ${file.name}: sessions given labels left out: ${left.join('; ')}`);
      dir = mkdtempSync(join(tmpdir(), 'posture-corpus-'));
      const policy = withUpstreams(loadCasePolicy(file));
      audit = createMemoryAuditLog();
      approvals = createMemoryApprovalQueue();
      gateway = new Gateway({ policy, audit, approvals, clock: () => now, approvalWaitMs: 0 });
      await gateway.start();
      authority = new TokenAuthority({
        key: await loadOrCreateSigningKey(join(dir, 'key.json')),
        audience: AUDIENCE,
      });
      const tokens = new TokenVerifier({
        audience: AUDIENCE,
        own: { issuer: authority.issuer, jwks: authority.jwks },
        policy: compile(policy),
      });
      running = await serveHttp({ gateway, tokens, resource: AUDIENCE });
    }, 60_000);

    afterAll(async () => {
      for (const { client } of clients.values()) await client.close().catch(() => {});
      await running?.close();
      await gateway?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** The MCP session for the case's agent, user and session, opened on first use. */
    async function sessionFor(c: Case): Promise<{ client: Client; session: string } | { refused: string }> {
      const key = sessionKey(c);
      const open = clients.get(key);
      if (open) return open;
      const token = await authority.issue({
        agent: c.request.agent,
        user: c.request.user ?? '',
        ttlMs: 3_600_000,
      });
      const client = new Client({ name: 'corpus', version: '1' }, { capabilities: { elicitation: {} } });
      client.setRequestHandler(ElicitRequestSchema, () => {
        asked = true;
        return current?.request.confirmed
          ? { action: 'accept', content: { confirm: true } }
          : { action: 'decline' };
      });
      const transport = new StreamableHTTPClientTransport(new URL(running.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      });
      try {
        await client.connect(transport);
      } catch (error) {
        const description = /"error_description":"([^"]*)"/.exec(String(error))?.[1] ?? String(error);
        return { refused: description };
      }
      const opened = { client, session: transport.sessionId! };
      clients.set(key, opened);
      return opened;
    }

    async function decideOverMcp(c: Case): Promise<{ decision: Decision; compareRules: boolean }> {
      const deny = (code: string): { decision: Decision; compareRules: boolean } => ({
        decision: { decision: 'deny', rules: [], reasons: [{ code, message: '' }], obligations: {} },
        compareRules: false,
      });
      const opened = await sessionFor(c);
      if ('refused' in opened) return deny(identityCode(opened.refused));
      if (c.request.approval) await preApprove(approvals, { ...boundOf(c), session: opened.session }, c.at);
      const [server, ...rest] = c.request.tool.split('/');
      const before = await audit.size();
      current = c;
      asked = false;
      try {
        await opened.client.callTool({
          name: `${server}${NAME_SEPARATOR}${rest.join('/')}`,
          arguments: c.request.args ?? {},
        });
      } catch (error) {
        if (/-32602.*unknown tool/.test(String(error))) return deny('tool.unknown');
        throw error;
      }
      const events = await audit.read(before, await audit.size());
      expect(events, 'exactly one audit event per call').toHaveLength(1);
      const event = events[0]!;
      const reasons = event.reasons ?? [];
      if (asked && reasons.at(-1)?.code === 'confirm.declined') {
        // Declined when asked: the decision was `confirm`, with the reasons before the refusal.
        return {
          decision: {
            decision: 'confirm',
            rules: event.rules ?? [],
            reasons: reasons.slice(0, -1),
            obligations: {},
          },
          compareRules: true,
        };
      }
      return {
        decision: { decision: event.decision!, rules: event.rules ?? [], reasons, obligations: {} },
        compareRules: true,
      };
    }

    it.each(cases)('#$index $c.name', async ({ c, index }) => {
      now = c.at;
      const { decision, compareRules } = await decideOverMcp(c);
      const expected = { ...c.expect, obligations: undefined, ...(compareRules ? {} : { rules: undefined }) };
      const { actual, wanted } = compare(decision, expected);
      expect(
        actual,
        `${file.name} requests[${index}] ${c.name}\ndecision: ${JSON.stringify(decision)}`,
      ).toEqual(wanted);
    });
  });
}

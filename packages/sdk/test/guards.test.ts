import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile, loadPolicy } from '@posture/core';
import { createMemoryApprovalQueue, createMemoryAuditLog } from '@posture/storage';
import { createEnforcer, systemRealPath, systemResolveHost, type ResolveHost } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'posture-guards-'));
const root = join(dir, 'project');
mkdirSync(join(root, 'src'), { recursive: true });
writeFileSync(join(root, 'src', 'index.ts'), 'export {};\n');
writeFileSync(join(dir, 'secret.txt'), 'outside\n');
symlinkSync(join(dir, 'secret.txt'), join(root, 'innocent.txt'));
symlinkSync(dir, join(root, 'up'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function enforcerWith(resolveHost: ResolveHost) {
  const loaded = loadPolicy(
    `version: 1
users: { alice: {} }
agents:
  coder:
    owner: alice
    run_by: [alice]
    grants: [{ tools: ['*/*'], access: write }]
servers:
  files:
    tools:
      read_file: { tier: 1, access: read, irreversible: false, paths: { args: [path], roots: [${JSON.stringify(root)}] } }
  web:
    tools:
      fetch: { tier: 1, access: read, irreversible: false }
egress:
  allow: [intranet.example]
`,
    'posture.yaml',
  );
  if (!loaded.policy) throw new Error(JSON.stringify(loaded.problems));
  const audit = createMemoryAuditLog();
  const enforcer = createEnforcer({
    policy: compile(loaded.policy),
    audit,
    approvals: createMemoryApprovalQueue(),
    guards: { resolveHost, realPath: systemRealPath, resolveTimeoutMs: 200 },
  });
  return { enforcer, audit };
}

const DNS: Record<string, string[] | 'hang' | 'servfail'> = {
  'public.example': ['93.184.216.34'],
  'rebind.example': ['93.184.216.34', '10.0.0.7'],
  'meta.example': ['169.254.169.254'],
  'v6.example': ['fd00:ec2::254'],
  'intranet.example': ['10.1.1.1'],
  'slow.example': 'hang',
  'broken.example': 'servfail',
};
const fakeDns: ResolveHost = (host) => {
  const answer = DNS[host];
  if (answer === 'hang') return new Promise(() => {});
  if (answer === 'servfail')
    return Promise.reject(Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' }));
  if (!answer) return Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }));
  return Promise.resolve(answer);
};

const call = (tool: string, args: Record<string, unknown>) => ({
  agent: 'coder',
  user: 'alice',
  session: 's1',
  tool,
  args,
});

describe('argument guards in the enforcer', () => {
  const { enforcer, audit } = enforcerWith(fakeDns);
  let ran = 0;
  const execute = async () => {
    ran++;
    return { content: [{ type: 'text', text: 'ok' }] };
  };

  it.each([
    ['rebind.example', '10.0.0.7', 'private'],
    ['meta.example', '169.254.169.254', 'metadata'],
    ['v6.example', 'fd00:ec2::254', 'unique local'],
  ])('a host name resolving to an internal address is refused (%s)', async (host, address, kind) => {
    const before = ran;
    const result = await enforcer.call(call('web/fetch', { url: `http://${host}/x` }), execute);
    expect(result.status).toBe('denied');
    if (result.status !== 'denied') return;
    expect(result.decision.rules).toEqual(['egress']);
    const reason = result.decision.reasons.at(-1)!;
    expect(reason.code).toBe('egress.private');
    expect(reason.message).toContain(address);
    expect(reason.message).toContain(kind);
    expect(ran).toBe(before); // the tool never ran
  });

  it('lets public names, unknown names and allowed hosts through', async () => {
    for (const url of ['http://public.example/', 'http://nowhere.example/', 'http://intranet.example/wiki']) {
      const result = await enforcer.call(call('web/fetch', { url }), execute);
      expect(result.status, url).toBe('ok');
    }
  });

  it('refuses a name that cannot be resolved now (timeout, server failure): fail closed', async () => {
    for (const host of ['slow.example', 'broken.example']) {
      const result = await enforcer.call(call('web/fetch', { url: `https://${host}/` }), execute);
      expect(result.status).toBe('denied');
      if (result.status === 'denied') expect(result.decision.reasons.at(-1)!.code).toBe('egress.unresolved');
    }
  });

  it('refuses a path under the root that is a symlink out of it, and names where it leads', async () => {
    for (const path of ['innocent.txt', join(root, 'up', 'secret.txt')]) {
      const result = await enforcer.call(call('files/read_file', { path }), execute);
      expect(result.status, path).toBe('denied');
      if (result.status !== 'denied') continue;
      const reason = result.decision.reasons.at(-1)!;
      expect(reason.code).toBe('args.path');
      expect(reason.message).toContain('symbolic link');
      expect(result.decision.rules).toEqual(['servers.files.tools.read_file.paths']);
    }
    const inside = await enforcer.call(call('files/read_file', { path: 'src/index.ts' }), execute);
    expect(inside.status).toBe('ok');
    const missing = await enforcer.call(call('files/read_file', { path: 'src/new-file.ts' }), execute);
    expect(missing.status).toBe('ok'); // a file yet to be written is checked lexically
  });

  it('records each refusal as one audit event with the reason', async () => {
    const events = await audit.search({ decision: 'deny' });
    expect(events.length).toBeGreaterThanOrEqual(6);
    expect(events.every((e) => e.outcome === 'denied')).toBe(true);
    expect(events.some((e) => e.reasons?.some((r) => r.code === 'egress.unresolved'))).toBe(true);
  });

  it('the system resolver answers for localhost', async () => {
    expect(await systemResolveHost('localhost')).toContain('127.0.0.1');
  });
});

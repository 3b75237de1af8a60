import { describe, expect, it } from 'vitest';
import {
  checkPath,
  checkPathArguments,
  checkUrlArguments,
  compile,
  createMemoryState,
  decide,
  hostAllowed,
  internalAddress,
  loadPolicy,
  urlHosts,
} from '../src/index.js';

const ROOTS = ['/srv/data'];
const DENY = { private: 'deny' as const, allow: [] };

describe('path arguments', () => {
  it.each([
    ['/srv/data/report.txt'],
    ['/srv/data/a/../b.txt'],
    ['notes/today.md'],
    ['./notes/today.md'],
    ['/srv/data'],
  ])('%s stays under the root', (path) => {
    expect(checkPath(path, ROOTS)).toBeUndefined();
  });

  it.each([
    ['../../etc/passwd', 'outside'],
    ['/srv/data/../../etc/passwd', 'outside'],
    ['/etc/passwd', 'outside'],
    ['/srv/database/x', 'outside'], // a sibling sharing the prefix is not inside
    ['%2e%2e/%2e%2e/etc/passwd', 'outside'],
    ['%252e%252e%252fetc%252fpasswd', 'outside'], // double encoding
    ['..\\..\\windows\\win.ini', 'outside'],
    ['/srv/data/report.txt\0.png', 'NUL'],
    ['/srv/data/%00', 'NUL'],
    ['\\\\?\\C:\\Windows', 'device path'],
    ['\\\\server\\share\\x', 'UNC'],
    ['C:\\Windows\\system32', 'outside'],
    ['..%c0%af..%c0%afetc', 'malformed'], // overlong UTF-8 for `/`
  ])('%s is refused (%s)', (path, why) => {
    expect(checkPath(path, ROOTS)).toContain(why);
  });

  it('checks lists of paths and file: URLs, naming the argument', () => {
    const guard = { args: ['paths', 'source'], roots: ROOTS };
    expect(checkPathArguments({ paths: ['/srv/data/a', '/etc/shadow'] }, guard)?.at).toBe('args.paths[1]');
    expect(checkPathArguments({ source: 'file:///etc/passwd' }, guard)?.code).toBe('args.path');
    expect(checkPathArguments({ source: 'file:///srv/data/a.txt' }, guard)).toBeUndefined();
    expect(checkPathArguments({ source: 'file://evil.example/srv/data/a' }, guard)?.message).toContain(
      'another host',
    );
    expect(checkPathArguments({ other: '/etc/passwd' }, guard)).toBeUndefined();
  });
});

describe('URL arguments (SSRF)', () => {
  it.each([
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://127.0.0.1:8080/admin', 'loopback'],
    ['http://localhost/', 'this machine'],
    ['http://api.localhost/', 'this machine'],
    ['http://0x7f.1/', 'loopback'], // hex, shortened
    ['http://2130706433/', 'loopback'], // one decimal number
    ['http://0177.0.0.1/', 'loopback'], // octal
    ['http://[::1]/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'], // IPv4-mapped IPv6
    ['http://[::ffff:a9fe:a9fe]/', 'metadata'],
    ['http://[64:ff9b::a00:1]/', 'private'], // NAT64 of 10.0.0.1
    ['http://[fd00:ec2::254]/', 'unique local'],
    ['http://10.1.2.3/', 'private'],
    ['http://172.31.255.255/', 'private'],
    ['http://192.168.0.1/', 'private'],
    ['http://100.64.0.1/', 'carrier-grade'],
    ['http://0.0.0.0:22/', 'this network'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'metadata'],
    ['https://user:pw@127.0.0.1/', 'loopback'],
    ['http://127.0.0.1./', 'loopback'], // trailing dot
  ])('%s is denied (%s)', (url, kind) => {
    const failure = checkUrlArguments({ url }, DENY);
    expect(failure?.code).toBe('egress.private');
    expect(failure?.message).toContain(kind);
    expect(failure?.at).toBe('args.url');
  });

  it.each([['file:///etc/passwd'], ['gopher://127.0.0.1:6379/_FLUSHALL'], ['dict://localhost:11211/stats']])(
    '%s is denied by scheme',
    (url) => {
      expect(checkUrlArguments({ url }, { private: 'allow', allow: [] })?.code).toBe('egress.scheme');
    },
  );

  it('passes public hosts, text that merely mentions a URL, and what egress.allow lists', () => {
    expect(checkUrlArguments({ url: 'https://example.com/a?b=1' }, DENY)).toBeUndefined();
    expect(checkUrlArguments({ url: 'http://8.8.8.8/' }, DENY)).toBeUndefined();
    expect(checkUrlArguments({ text: 'see http://127.0.0.1/ for details' }, DENY)).toBeUndefined();
    expect(
      checkUrlArguments({ url: 'http://10.1.2.3/' }, { private: 'deny', allow: ['10.1.0.0/16'] }),
    ).toBeUndefined();
    expect(checkUrlArguments({ url: 'http://localhost/' }, { private: 'allow', allow: [] })).toBeUndefined();
    expect(hostAllowed('wiki.corp.example', ['*.corp.example'])).toBe(true);
    expect(hostAllowed('corp.example.evil', ['*.corp.example'])).toBe(false);
  });

  it('finds URLs at any depth and names where', () => {
    const failure = checkUrlArguments({ hooks: [{ target: 'x' }, { target: 'http://10.0.0.5/' }] }, DENY);
    expect(failure?.at).toBe('args.hooks[1].target');
    expect(failure?.message).toContain('`args.hooks[1].target`');
  });

  it('lists the host names an adapter should resolve', () => {
    expect(urlHosts({ a: 'https://example.com/x', b: ['http://[::1]/'], c: 'plain' })).toEqual([
      { at: 'args.a', host: 'example.com' },
      { at: 'args.b[0]', host: '::1' },
    ]);
  });

  it('classifies addresses', () => {
    expect(internalAddress('8.8.8.8')).toBeUndefined();
    expect(internalAddress('2606:4700::1111')).toBeUndefined();
    expect(internalAddress('fe80::1')).toContain('link-local');
    expect(internalAddress('example.com')).toBeUndefined();
  });
});

describe('decide() applies the guards', () => {
  const policy = loadPolicy(
    `version: 1
users: { alice: {} }
agents:
  bot:
    owner: alice
    run_by: [alice]
    grants: [{ tools: ['*/*'], access: write }]
servers:
  files:
    command: [files]
    tools:
      read_file: { tier: 1, access: read, paths: { args: [path], roots: [/srv/data] } }
  web:
    command: [web]
    tools:
      fetch: { tier: 1, access: read }
`,
    'posture.yaml',
  );
  if (!policy.policy || policy.problems.some((p) => p.severity === 'error'))
    throw new Error(JSON.stringify(policy.problems));
  const compiled = compile(policy.policy);
  const call = (tool: string, args: Record<string, unknown>) =>
    decide({ agent: 'bot', user: 'alice', tool, args }, compiled, createMemoryState(), { now: 0 });

  it('denies a traversal with the tool rule, and allows a path inside', () => {
    const denied = call('files/read_file', { path: '../../etc/passwd' });
    expect(denied.decision).toBe('deny');
    expect(denied.rules).toEqual(['servers.files.tools.read_file.paths']);
    expect(denied.reasons[0]?.code).toBe('args.path');
    expect(call('files/read_file', { path: 'reports/q3.txt' }).decision).toBe('allow');
  });

  it('denies a metadata URL by default under the egress rule', () => {
    const denied = call('web/fetch', { url: 'http://169.254.169.254/latest/meta-data/iam/' });
    expect(denied.decision).toBe('deny');
    expect(denied.rules).toEqual(['egress']);
    expect(denied.reasons[0]?.code).toBe('egress.private');
    expect(call('web/fetch', { url: 'https://example.com/' }).decision).toBe('allow');
  });
});

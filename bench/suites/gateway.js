// The gateway's overhead: the same echo tool called by the same minimal client, directly over
// HTTP, through mcp-proxy (HTTP in, stdio out, no policy), and through the Posture gateway (HTTP
// in, stdio out) with the policy decided, arguments and results scanned and redacted, and one
// durable SQLite audit event per call. Contenders run in interleaved rounds in one run.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_DIR, format } from '../lib.js';
import { MinimalClient } from './gateway/client.js';
import { RawConnection } from './gateway/raw-client.js';

export const description =
  'MCP tools/call: direct HTTP vs mcp-proxy vs the Posture gateway (policy, redaction, durable audit)';

const require = createRequire(import.meta.url);
const ECHO = join(REPO_DIR, 'bench/suites/gateway/echo-server.js');
const MCP_PROXY = require.resolve('mcp-proxy/dist/bin/mcp-proxy.mjs');
const POSTURE = join(REPO_DIR, 'packages/cli/dist/bin.js');
const IN_FLIGHT = 16;
const ROUNDS = 3;
const SECONDS_PER_ROUND = 2;
// About 100 bytes of argument, with a value that looks like an email so redaction has work to do.
export const ARGS = {
  message: 'order 4711 for ada.lovelace@example.org: ship two units to the Leeds office by Friday, thanks',
};

export const POLICY = `
version: 1
users:
  alice: { groups: [staff] }
agents:
  bench:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [echo/echo]
        when: { message: { type: string, maxLength: 4096 } }
servers:
  echo:
    command: [node, ${JSON.stringify(ECHO)}, stdio]
    tools:
      echo: { tier: 1, access: read, returns: [internal] }
limits:
  default: { rate: 1000000/m, timeout: 30s, max_calls: 100000000, loop: { repeats: 10000, within: 1s } }
data:
  redact: [secrets, pii]
  rules:
    - tools: [echo/*]
      direction: out
      block: [secrets]
`;

function startProcess(command, args, { ready, cwd }) {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start: ${output}`)), 30_000);
    const onData = (chunk) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${output}`)));
  });
}

function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

/** Calls with `inFlight` concurrent callers, each on its own connection, for `seconds`; per-call latencies in ms. */
async function drive(connections, name, inFlight, seconds) {
  const latencies = [];
  const end = performance.now() + seconds * 1000;
  const worker = async (connection) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await connection.call(name, ARGS);
      latencies.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(connections.slice(0, inFlight).map(worker));
  return { latencies, seconds: (performance.now() - t0) / 1000 };
}

function summarise(runs) {
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { calls: latencies.length, perSecond: latencies.length / seconds, p50: at(0.5), p99: at(0.99) };
}

export async function run(report) {
  const dir = mkdtempSync(join(tmpdir(), 'posture-bench-gateway-'));
  const children = [];
  try {
    writeFileSync(join(dir, 'posture.yaml'), POLICY);
    const direct = await startProcess('node', [ECHO, 'http', '0'], { ready: /listening (\d+)/ });
    children.push(direct.child);
    // mcp-proxy prints no address it listens on, so it gets fixed ports.
    const proxy = await startProcess(
      'node',
      [
        MCP_PROXY,
        '--host',
        '127.0.0.1',
        '--port',
        '18731',
        '--server',
        'stream',
        '--no-eventStore',
        '--',
        'node',
        ECHO,
        'stdio',
      ],
      { ready: /18731/ },
    );
    children.push(proxy.child);
    const proxyPort = '18731';
    // mcp-proxy as it comes (its resumability event store on, answers over SSE), besides the
    // lighter configuration above: the issue's baseline was measured on the defaults.
    const proxyDefaults = await startProcess(
      'node',
      [
        MCP_PROXY,
        '--host',
        '127.0.0.1',
        '--port',
        '18732',
        '--server',
        'stream',
        '--',
        'node',
        ECHO,
        'stdio',
      ],
      { ready: /18732/ },
    );
    children.push(proxyDefaults.child);
    const posture = await startProcess(
      'node',
      [POSTURE, 'gateway', '--port', '0', '--db', join(dir, 'posture.db')],
      {
        ready: /posture gateway: (http:\/\/\S+\/mcp)/,
        cwd: dir,
      },
    );
    children.push(posture.child);
    const postureUrl = posture.match[1];
    const token = execFileSync(
      'node',
      [
        POSTURE,
        'token',
        'issue',
        '--agent',
        'bench',
        '--user',
        'alice',
        '--ttl',
        '1h',
        '--audience',
        postureUrl,
      ],
      { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    ).trim();

    const contenders = [
      { name: 'direct (SDK server over HTTP)', url: `http://127.0.0.1:${direct.match[1]}/mcp`, tool: 'echo' },
      {
        name: 'mcp-proxy --no-eventStore (HTTP → stdio)',
        url: `http://127.0.0.1:${proxyPort}/mcp`,
        tool: 'echo',
      },
      { name: 'mcp-proxy defaults (HTTP → stdio)', url: 'http://127.0.0.1:18732/mcp', tool: 'echo' },
      { name: 'Posture gateway (HTTP → stdio)', url: postureUrl, tool: 'echo__echo', token },
    ];
    for (const c of contenders) {
      c.client = new MinimalClient(c.url, { token: c.token, concurrency: IN_FLIGHT });
      const session = await c.client.initialize();
      c.connections = [];
      for (let i = 0; i < IN_FLIGHT; i++) {
        const connection = new RawConnection(c.url, {
          ...(c.token ? { authorization: `Bearer ${c.token}` } : {}),
          ...(session ? { 'mcp-session-id': session } : {}),
          'mcp-protocol-version': '2025-06-18',
        });
        await connection.connect();
        c.connections.push(connection);
      }
      const result = await c.connections[0].call(c.tool, ARGS);
      if (!JSON.stringify(result).includes('order 4711'))
        throw new Error(`${c.name} answered ${JSON.stringify(result)}`);
      c.sequential = [];
      c.loaded = [];
      await drive(c.connections, c.tool, IN_FLIGHT, 0.5); // warm up
    }

    report.heading(`One echo call, ~100 B argument, ${ROUNDS} interleaved rounds`);
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of contenders) {
        c.sequential.push(await drive(c.connections, c.tool, 1, SECONDS_PER_ROUND / 2));
        c.loaded.push(await drive(c.connections, c.tool, IN_FLIGHT, SECONDS_PER_ROUND));
      }
    }
    const rows = contenders.map((c) => ({
      name: c.name,
      one: summarise(c.sequential),
      many: summarise(c.loaded),
    }));
    report.table(rows, [
      ['path', (r) => r.name],
      ['p50 ms (1 in flight)', (r) => r.one.p50.toFixed(3)],
      ['p99 ms (1 in flight)', (r) => r.one.p99.toFixed(3)],
      [`calls/s (${IN_FLIGHT} in flight)`, (r) => format.count(r.many.perSecond)],
      [`p50 ms (${IN_FLIGHT})`, (r) => r.many.p50.toFixed(2)],
      [`p99 ms (${IN_FLIGHT})`, (r) => r.many.p99.toFixed(2)],
    ]);
    report.set('paths', rows);
    const [d, m, md, p] = rows;

    const storage = await import(join(REPO_DIR, 'packages/storage/dist/index.js'));
    const log = await storage.openSqliteAuditLog({ path: join(dir, 'posture.db') });
    const events = await log.size();
    await log.close();
    const calls = contenders[3].sequential
      .concat(contenders[3].loaded)
      .reduce((n, r) => n + r.latencies.length, 0);
    report.note(
      `audit events written by the gateway: ${events} (calls timed: ${calls}, plus warm-up and checks)`,
    );

    report.heading('Memory');
    const before = rssMb(posture.child.pid);
    const sessions = [];
    const authorityModule = await import(join(REPO_DIR, 'packages/gateway/dist/index.js'));
    const key = await authorityModule.loadOrCreateSigningKey(join(dir, '.posture', 'token-key.json'));
    const authority = new authorityModule.TokenAuthority({ key, audience: postureUrl });
    while (sessions.length < 1000) {
      const client = new MinimalClient(postureUrl, {
        token: await authority.issue({ agent: 'bench', user: 'alice', ttlMs: 3_600_000 }),
        concurrency: 1,
      });
      await client.initialize();
      await client.call('echo__echo', ARGS);
      sessions.push(client);
    }
    const after = rssMb(posture.child.pid);
    for (const client of sessions) client.close();
    report.table(
      [
        { name: 'gateway after the timed runs', mb: before },
        { name: 'with 1,000 open sessions', mb: after },
      ],
      [
        ['gateway process', (r) => r.name],
        ['RSS MB', (r) => r.mb.toFixed(0)],
      ],
    );

    report.heading('Ratios and targets');
    report.ratio('Posture calls/s / mcp-proxy --no-eventStore calls/s', p.many.perSecond, m.many.perSecond);
    report.ratio('Posture calls/s / mcp-proxy defaults calls/s', p.many.perSecond, md.many.perSecond);
    report.ratio('direct calls/s / Posture calls/s', d.many.perSecond, p.many.perSecond);
    const addedP50 = p.one.p50 - d.one.p50;
    const addedP99 = p.one.p99 - d.one.p99;
    report.note(
      `added by Posture over direct, 1 in flight: p50 +${addedP50.toFixed(3)} ms, p99 +${addedP99.toFixed(3)} ms`,
    );
    report.note(`added by mcp-proxy over direct, 1 in flight: p50 +${(m.one.p50 - d.one.p50).toFixed(3)} ms`);
    report.set('added_ms', { p50: addedP50, p99: addedP99 });
    report.target('added p50 over direct', addedP50, '<=', 0.5, (v) => `${v.toFixed(3)} ms`);
    report.target('added p99 over direct', addedP99, '<=', 2, (v) => `${v.toFixed(3)} ms`);
    report.target(`Posture calls/s, ${IN_FLIGHT} in flight`, p.many.perSecond, '>=', 2500, format.count);
    report.target(
      'Posture / mcp-proxy defaults',
      p.many.perSecond / md.many.perSecond,
      '>=',
      1.7,
      (v) => `${v.toFixed(2)}×`,
    );
    report.target(
      'Posture / mcp-proxy --no-eventStore (lighter than its defaults)',
      p.many.perSecond / m.many.perSecond,
      '>=',
      1.7,
      (v) => `${v.toFixed(2)}×`,
    );
    report.target('RSS with 1,000 sessions', after, '<=', 150, (v) => `${v.toFixed(0)} MB`);
    for (const c of contenders) {
      c.client.close();
      for (const connection of c.connections) connection.close();
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

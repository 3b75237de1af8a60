// Not a bench: a CPU profile of `posture gateway` under the gateway bench's load (16 in flight, the
// same policy and echo call), for finding where a call's time goes. Writes a .cpuprofile to the
// folder given (default /tmp/posture-profile) and prints the top self-time functions.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_DIR } from './lib.js';
import { MinimalClient } from './suites/gateway/client.js';
import { RawConnection } from './suites/gateway/raw-client.js';
import { ARGS, POLICY } from './suites/gateway.js';

const out = process.argv[2] ?? '/tmp/posture-profile';
const seconds = Number(process.argv[3] ?? 8);
mkdirSync(out, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), 'posture-profile-'));
writeFileSync(join(dir, 'posture.yaml'), POLICY);
const bin = join(REPO_DIR, 'packages/cli/dist/bin.js');
const child = spawn('node', ['--cpu-prof', `--cpu-prof-dir=${out}`, bin, 'gateway', '--port', '0'], {
  cwd: dir,
  stdio: ['ignore', 'ignore', 'pipe'],
});
let stderr = '';
const url = await new Promise((resolve, reject) => {
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    const match = /posture gateway: (http:\/\/\S+\/mcp)/.exec(stderr);
    if (match) resolve(match[1]);
  });
  child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${stderr}`)));
});
const token = execFileSync(
  'node',
  [bin, 'token', 'issue', '--agent', 'bench', '--user', 'alice', '--ttl', '1h', '--audience', url],
  {
    cwd: dir,
    encoding: 'utf8',
  },
).trim();
const session = await new MinimalClient(url, { token, concurrency: 16 }).initialize();
const connections = [];
for (let i = 0; i < 16; i++) {
  const connection = new RawConnection(url, {
    authorization: `Bearer ${token}`,
    'mcp-session-id': session,
    'mcp-protocol-version': '2025-06-18',
  });
  await connection.connect();
  connections.push(connection);
}
let calls = 0;
const end = performance.now() + seconds * 1000;
await Promise.all(
  connections.map(async (connection) => {
    while (performance.now() < end) {
      await connection.call('echo__echo', ARGS);
      calls++;
    }
  }),
);
console.log(`${calls} calls in ${seconds} s: ${Math.round(calls / seconds)}/s`);
const exited = new Promise((resolve) => child.once('exit', resolve));
child.kill('SIGTERM');
await exited;
rmSync(dir, { recursive: true, force: true });

// The main thread's profile is the largest (the WAL checkpointer runs in a worker of its own).
const file = readdirSync(out)
  .filter((f) => f.endsWith('.cpuprofile'))
  .map((f) => ({ f, size: statSync(join(out, f)).size }))
  .sort((a, b) => b.size - a.size)[0].f;
const profile = JSON.parse(readFileSync(join(out, file), 'utf8'));
const self = new Map();
const dt = profile.timeDeltas;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const totals = new Map();
profile.samples.forEach((id, i) => totals.set(id, (totals.get(id) ?? 0) + (dt[i] ?? 0)));
let all = 0;
for (const [id, us] of totals) {
  const { callFrame } = byId.get(id);
  const where = `${callFrame.functionName || '(anonymous)'} ${callFrame.url.replace(/^.*node_modules\//, '').replace(REPO_DIR, '')}:${callFrame.lineNumber + 1}`;
  self.set(where, (self.get(where) ?? 0) + us);
  all += us;
}
console.log(`profile: ${join(out, file)}`);
for (const [where, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
  console.log(`${((100 * us) / all).toFixed(1).padStart(5)}%  ${where}`);
}

// Anomaly detection on the enforcer's path: what `monitor.observe(event)` adds to each call, on a
// seeded mix of call events from 200 agents over 60 tools (reads, writes, failures, denials, the
// clock moving 5 ms per call), timed in interleaved rounds beside two floors — the timing loop
// alone, and one Map lookup plus a counter per agent (the least any per-agent baseline costs) —
// and beside the Prometheus metrics hook that runs on the same path.
import { PostureMetrics, createAnomalyMonitor } from '../../packages/assess/dist/index.js';
import { compete, format, prng, timer } from '../lib.js';

export const description =
  'anomaly detection per call (rolling baselines, O(1)) vs a Map counter floor, and the Prometheus hook';

const EVENTS = 200_000;
const AGENTS = 200;
const TOOLS = 60;
const SECONDS = 3;

function events() {
  const random = prng(6);
  const start = Date.UTC(2026, 0, 6, 8, 0, 0);
  const tools = Array.from({ length: TOOLS }, (_, i) => `srv${i % 6}/tool_${i}`);
  return Array.from({ length: EVENTS }, (_, seq) => {
    const kind = random.weighted({ read: 0.7, write: 0.2, failed: 0.05, denied: 0.05 });
    return {
      seq,
      time: new Date(start + seq * 5).toISOString(),
      kind: 'call',
      actor: { user: 'alice', agent: `agent-${random.int(0, AGENTS - 1)}` },
      tool: random.pick(tools),
      access: kind === 'write' ? 'write' : 'read',
      tier: kind === 'write' ? 2 : 1,
      decision: kind === 'denied' ? 'deny' : 'allow',
      outcome: kind === 'failed' ? 'failed' : kind === 'denied' ? 'denied' : 'allowed',
      latency_ms: random.int(0, 20),
    };
  });
}

export async function run(report) {
  const items = events();
  let alerts = 0;
  const monitor = createAnomalyMonitor(undefined, () => alerts++);
  const floorCounts = new Map();
  const floor = (event) => {
    const agent = event.actor.agent;
    floorCounts.set(agent, (floorCounts.get(agent) ?? 0) + 1);
  };
  const metrics = new PostureMetrics();
  const [loop, counter, anomaly, prom] = compete(
    [
      { timer: timer('timing loop alone', items, () => undefined), seconds: SECONDS },
      { timer: timer('floor: Map counter per agent', items, floor), seconds: SECONDS },
      { timer: timer('Posture anomaly monitor', items, monitor.observe), seconds: SECONDS },
      { timer: timer('Posture Prometheus hook', items, metrics.observe), seconds: SECONDS },
    ],
    { rounds: 3 },
  );
  report.heading(`${format.count(EVENTS)} call events, ${AGENTS} agents, ${TOOLS} tools (batch 16)`);
  const rows = [loop, counter, anomaly, prom];
  report.table(rows, [
    ['contender', (r) => r.name],
    ['calls/s', (r) => format.count(r.perSecond)],
    ['mean µs', (r) => format.us(1e6 / r.perSecond)],
    ['p50 µs', (r) => format.us(r.p50_us)],
    ['p99 µs', (r) => format.us(r.p99_us)],
  ]);
  report.note(`alerts raised while timing: ${alerts} (default thresholds)`);
  report.set('results', rows);
  report.ratio('anomaly monitor / Map counter floor (time per call)', counter.perSecond, anomaly.perSecond);
  report.ratio('Prometheus hook / anomaly monitor (time per call)', anomaly.perSecond, prom.perSecond);
  report.target('anomaly detection, mean µs per call', 1e6 / anomaly.perSecond, '<=', 2, format.us);
  report.target('anomaly detection, p99 µs per call (batches of 16)', anomaly.p99_us, '<=', 2, format.us);
}

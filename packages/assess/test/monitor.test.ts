import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, context, type Context, type ContextManager } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  BasicTracerProvider,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Alerts, compile, loadPolicy, type CompiledPolicy } from '@posture/core';
import { createEnforcer } from '@posture/sdk';
import { createMemoryApprovalQueue, createMemoryAuditLog, type StoredEvent } from '@posture/storage';
import {
  AlertDispatcher,
  PostureMetrics,
  createAnomalyMonitor,
  createMonitoring,
  logSink,
  slackSink,
  webhookSink,
  withSpans,
  type AnomalyAlert,
} from '../src/index.js';

const POLICY = `
version: 1
users: { alice: {} }
agents:
  bot:
    owner: alice
    run_by: [alice]
    grants:
      - { tools: [crm/*] }
      - { tools: [tickets/add_comment], access: write }
servers:
  crm:
    tools:
      get_customer: { tier: 1, access: read }
      search: { tier: 1, access: read }
  tickets:
    tools:
      add_comment: { tier: 2, access: write, irreversible: false }
      delete_ticket: { tier: 3, access: admin, irreversible: true }
alerts:
  warmup: 10
`;

function compiled(text = POLICY): CompiledPolicy {
  const loaded = loadPolicy(text, 'posture.yaml');
  if (!loaded.policy) throw new Error(JSON.stringify(loaded.problems));
  return compile(loaded.policy);
}

const START = Date.UTC(2026, 0, 6, 10, 0, 0);
let seq = 0;
/** A call's audit event as the enforcer records it. */
function event(at: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    seq: seq++,
    time: new Date(at).toISOString(),
    kind: 'call',
    actor: { user: 'alice', agent: 'bot' },
    tool: 'crm/get_customer',
    access: 'read',
    decision: 'allow',
    outcome: 'allowed',
    latency_ms: 2,
    ...over,
  };
}
const settings = (over: Record<string, unknown> = {}) => Alerts.parse({ warmup: 10, ...over });
function collect(over: Record<string, unknown> = {}) {
  const alerts: AnomalyAlert[] = [];
  return { alerts, monitor: createAnomalyMonitor(settings(over), (alert) => alerts.push(alert)) };
}

describe('anomaly detection', () => {
  it('alerts once when the call rate jumps far above the agent usual rate', () => {
    const { alerts, monitor } = collect({ call_rate: { factor: 3, min: 20 } });
    // Two hours at 5 calls a minute: the baseline.
    for (let minute = 0; minute < 120; minute++)
      for (let k = 0; k < 5; k++) monitor.observe(event(START + minute * 60_000 + k * 1000));
    expect(alerts).toEqual([]);
    // Then 40 calls within one minute.
    for (let k = 0; k < 40; k++) monitor.observe(event(START + 120 * 60_000 + k * 500));
    expect(alerts.map((a) => a.kind)).toEqual(['call_rate']);
    expect(alerts[0]).toMatchObject({ agent: 'bot', value: 20, threshold: 20 });
    expect(alerts[0]!.message).toMatch(/^20 calls this minute; usually about 5\.0$/);
  });

  it('a rate above the minimum but within the factor of a busy agent is normal', () => {
    const { alerts, monitor } = collect({ call_rate: { factor: 3, min: 20 } });
    for (let minute = 0; minute < 120; minute++)
      for (let k = 0; k < 30; k++) monitor.observe(event(START + minute * 60_000 + k * 1000));
    expect(alerts).toEqual([]);
  });

  it('write bursts, failure and denial streaks, first use of a tool', () => {
    const { alerts, monitor } = collect({
      write_rate: { factor: 3, min: 5 },
      failures: { ratio: 0.5, window: 10 },
    });
    for (let k = 0; k < 20; k++) monitor.observe(event(START + k * 60_000));
    expect(alerts).toEqual([]);
    let t = START + 30 * 60_000;
    for (let k = 0; k < 6; k++)
      monitor.observe(event((t += 1000), { tool: 'tickets/add_comment', access: 'write' }));
    expect(alerts.map((a) => [a.kind, a.tool])).toEqual([
      ['new_tool', 'tickets/add_comment'],
      ['write_rate', 'tickets/add_comment'],
    ]);
    alerts.length = 0;
    for (let k = 0; k < 5; k++) monitor.observe(event((t += 1000), { outcome: 'failed' }));
    expect(alerts.map((a) => [a.kind, a.value])).toEqual([['failures', 0.5]]);
    alerts.length = 0;
    for (let k = 0; k < 10; k++) monitor.observe(event((t += 1000), { decision: 'deny', outcome: 'denied' }));
    // 20 calls of window: the 10th denial makes half of them denied.
    expect(alerts.map((a) => a.kind)).toEqual(['denials']);
  });

  it('a call in an hour the agent is never active in', () => {
    const { alerts, monitor } = collect();
    for (let day = 0; day < 5; day++)
      for (let k = 0; k < 20; k++) monitor.observe(event(START + day * 86_400_000 + k * 60_000));
    expect(alerts).toEqual([]);
    monitor.observe(event(Date.UTC(2026, 0, 12, 3, 15)));
    expect(alerts.map((a) => a.kind)).toEqual(['unusual_hour']);
    expect(alerts[0]!.message).toContain('03:00 UTC');
  });

  it('nothing before the warmup, and detectors set to false stay quiet', () => {
    const { alerts, monitor } = collect({ warmup: 1000, failures: false, denials: false });
    for (let k = 0; k < 100; k++)
      monitor.observe(event(START + k * 100, { tool: `crm/t${k}`, outcome: 'failed', decision: 'deny' }));
    expect(alerts).toEqual([]);
  });

  it('runs on the enforcer observe hook; alerts become audit events', async () => {
    const audit = createMemoryAuditLog();
    let now = START;
    const policy = compiled();
    // The dispatcher records alerts through the enforcer that the monitor observes.
    const dispatcher = new AlertDispatcher({
      alerts: policy.policy.alerts,
      sinks: [],
      note: (e) => enforcer.note(e),
    });
    const monitor = createAnomalyMonitor(policy.policy.alerts, dispatcher.dispatch);
    const enforcer = createEnforcer({
      policy,
      audit,
      approvals: createMemoryApprovalQueue(),
      clock: () => now,
      observe: monitor.observe,
    });
    const call = (tool: string) =>
      enforcer.call({ agent: 'bot', user: 'alice', session: 's', tool, args: {} }, async () => 'ok');
    for (let k = 0; k < 10; k++) {
      now += 60_000;
      expect((await call('crm/get_customer')).status).toBe('ok');
    }
    now += 60_000;
    expect((await call('crm/search')).status).toBe('ok');
    await dispatcher.flush();
    const alerts = (await audit.search({ kind: 'alert' })).map((e) => [e.tool, e.detail?.alert]);
    expect(alerts).toEqual([['crm/search', 'anomaly.new_tool']]);
  });
});

describe('createMonitoring', () => {
  it('wires detection, alert delivery and metrics to one enforcer', async () => {
    const policy = compiled();
    const audit = createMemoryAuditLog();
    const lines: string[] = [];
    const monitoring = createMonitoring(policy, [logSink({ write: (line: string) => lines.push(line) })]);
    let now = START;
    const enforcer = createEnforcer({
      policy,
      audit,
      approvals: createMemoryApprovalQueue(),
      clock: () => now,
      observe: monitoring.observe,
    });
    monitoring.attach(enforcer);
    const call = (tool: string) =>
      enforcer.call({ agent: 'bot', user: 'alice', session: 's', tool, args: {} }, async () => 'ok');
    for (let k = 0; k < 10; k++) {
      now += 60_000;
      await call('crm/get_customer');
    }
    now += 60_000;
    await call('crm/search');
    await monitoring.alerts.flush();
    expect((await audit.search({ kind: 'alert' })).map((e) => e.detail?.alert)).toEqual(['anomaly.new_tool']);
    expect(lines.map((line) => (JSON.parse(line) as { kind: string }).kind)).toEqual(['new_tool']);
    const { text } = await monitoring.metrics.text();
    expect(text).toContain('posture_alerts_total{kind="new_tool"} 1');
    expect(text).toContain('posture_calls_total{tool="crm/search",decision="allow",outcome="allowed"} 1');
  });
});

describe('alert dispatch', () => {
  const alert = (at: number, over: Partial<AnomalyAlert> = {}): AnomalyAlert => ({
    kind: 'new_tool',
    agent: 'bot',
    tool: 'crm/search',
    time: new Date(at).toISOString(),
    message: 'first call of `crm/search`',
    value: 1,
    threshold: 0,
    ...over,
  });

  it('deduplicates per agent, kind and tool, counts the repeats, and rate-limits per hour', async () => {
    const lines: string[] = [];
    const dispatcher = new AlertDispatcher({
      alerts: settings({ dedupe: '10m', max_per_hour: 3 }),
      sinks: [logSink({ write: (line: string) => lines.push(line) })],
    });
    dispatcher.dispatch(alert(START));
    dispatcher.dispatch(alert(START + 60_000));
    dispatcher.dispatch(alert(START + 120_000));
    dispatcher.dispatch(alert(START + 11 * 60_000)); // past the dedupe window: sent, with 2 repeats
    dispatcher.dispatch(alert(START + 12 * 60_000, { tool: 'crm/other' }));
    dispatcher.dispatch(alert(START + 13 * 60_000, { kind: 'call_rate' })); // the 4th this hour
    await dispatcher.flush();
    expect(dispatcher.stats).toEqual({ sent: 3, deduplicated: 2, rate_limited: 1, sink_failures: 0 });
    const sent = lines.map((line) => JSON.parse(line) as { tool: string; repeats: number; msg: string });
    expect(sent.map((s) => [s.tool, s.repeats])).toEqual([
      ['crm/search', 0],
      ['crm/search', 2],
      ['crm/other', 0],
    ]);
    expect(sent[0]!.msg).toBe('posture alert');
  });

  describe('webhooks on a local server', () => {
    let server: Server | undefined;
    afterEach(async () => {
      await new Promise((resolve) => server?.close(resolve));
      server = undefined;
    });
    async function receiver(status = 200) {
      const received: { path: string; type: string | undefined; body: unknown }[] = [];
      server = createServer((req: IncomingMessage, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          received.push({ path: req.url ?? '', type: req.headers['content-type'], body: JSON.parse(body) });
          res.writeHead(status).end();
        });
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      return { received, url: (path: string) => `http://127.0.0.1:${port}${path}` };
    }

    it('a JSON webhook and a Slack-compatible one get the alert', async () => {
      const { received, url } = await receiver();
      const dispatcher = new AlertDispatcher({
        sinks: [webhookSink(url('/hook')), slackSink(url('/slack'))],
      });
      dispatcher.dispatch(alert(START));
      await dispatcher.flush();
      expect(dispatcher.stats.sink_failures).toBe(0);
      const byPath = Object.fromEntries(received.map((r) => [r.path, r]));
      expect(byPath['/hook']).toMatchObject({
        type: 'application/json',
        body: {
          source: 'posture',
          alert: { kind: 'new_tool', agent: 'bot', tool: 'crm/search', repeats: 0 },
        },
      });
      expect((byPath['/slack']!.body as { text: string }).text).toBe(
        ':rotating_light: Posture alert `new_tool` for bot → crm/search: first call of `crm/search`',
      );
    });

    it('a receiver that refuses or is not there is a counted failure, not a thrown error', async () => {
      const { url } = await receiver(500);
      const dispatcher = new AlertDispatcher({
        sinks: [webhookSink(url('/hook')), webhookSink('http://127.0.0.1:9/nothing', { timeoutMs: 1000 })],
      });
      dispatcher.dispatch(alert(START));
      await dispatcher.flush();
      expect(dispatcher.stats).toMatchObject({ sent: 1, sink_failures: 2 });
      expect(() => webhookSink('file:///etc/passwd')).toThrow(
        'an alert webhook must be an http(s) URL, not `file:`',
      );
    });
  });
});

describe('the alerts section of the policy', () => {
  it('has defaults, and a bad value is a problem with its place', () => {
    expect(Alerts.parse({})).toMatchObject({ warmup: 50, call_rate: { factor: 3, min: 30 }, new_tool: true });
    const loaded = loadPolicy(`version: 1\nalerts:\n  call_rate: { factor: 0 }\n  nope: 1\n`, 'p.yaml');
    expect(loaded.problems.map((p) => [p.line, p.column, p.severity])).toEqual([
      [3, 24, 'error'],
      [4, 3, 'error'],
    ]);
    expect(compiled(`version: 1\nalerts: { denials: false }\n`).policy.alerts).toMatchObject({
      denials: false,
    });
  });
});

/** The smallest context manager that carries the active span across awaits (what an OTel SDK registers). */
class AsyncContext implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active = () => this.#storage.getStore() ?? ROOT_CONTEXT;
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind = <T>(_ctx: Context, target: T): T => target;
  enable = () => this;
  disable = () => this;
}

describe('metrics and spans', () => {
  it('counts calls by tool, decision and outcome without arguments; unknown tools under `unknown`', async () => {
    const policy = compiled();
    const metrics = new PostureMetrics();
    const enforcer = createEnforcer({
      policy,
      audit: createMemoryAuditLog(),
      approvals: createMemoryApprovalQueue(),
      observe: metrics.observe,
    });
    const call = (tool: string, args: Record<string, unknown> = {}) =>
      enforcer.call({ agent: 'bot', user: 'alice', session: 's', tool, args }, async () => 'ok');
    await call('crm/get_customer', { email: 'carol@example.com' });
    await call('crm/get_customer', { email: 'carol@example.com' });
    await call('tickets/delete_ticket');
    await call('evil/made_up_tool_1');
    await call('evil/made_up_tool_2');
    metrics.alert({ kind: 'new_tool', agent: 'bot', time: '', message: '', value: 1, threshold: 0 });
    const { text, contentType } = await metrics.text();
    expect(contentType).toMatch(/^text\/plain/);
    expect(text).toContain(
      'posture_calls_total{tool="crm/get_customer",decision="allow",outcome="allowed"} 2',
    );
    expect(text).toContain(
      'posture_calls_total{tool="tickets/delete_ticket",decision="deny",outcome="denied"} 1',
    );
    expect(text).toContain('posture_calls_total{tool="unknown",decision="deny",outcome="denied"} 2');
    expect(text).toContain('posture_call_duration_seconds_count{tool="crm/get_customer"} 2');
    expect(text).toContain('posture_alerts_total{kind="new_tool"} 1');
    expect(text).not.toContain('carol');
    expect(text).not.toContain('made_up');
  });

  it('one span per call with the decision, as a child of the active span', async () => {
    context.setGlobalContextManager(new AsyncContext());
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const tracer = provider.getTracer('test');
    const enforcer = withSpans(
      createEnforcer({
        policy: compiled(),
        audit: createMemoryAuditLog(),
        approvals: createMemoryApprovalQueue(),
      }),
      tracer,
    );
    await tracer.startActiveSpan('request', async (parent) => {
      await enforcer.call(
        { agent: 'bot', user: 'alice', session: 's', tool: 'crm/get_customer', args: { q: 'x' } },
        async () => 'ok',
      );
      await enforcer.call(
        { agent: 'bot', user: 'alice', session: 's', tool: 'crm/search', args: {} },
        async () => {
          throw new Error('upstream down');
        },
      );
      parent.end();
    });
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'posture.call');
    const parent = exporter.getFinishedSpans().find((s) => s.name === 'request')!;
    expect(
      spans.map((s) => [s.attributes['posture.tool'], s.attributes['posture.status'], s.status.code]),
    ).toEqual([
      ['crm/get_customer', 'ok', 0],
      ['crm/search', 'failed', 2],
    ]);
    expect(spans[0]!.attributes).toMatchObject({ 'posture.decision': 'allow', 'posture.agent': 'bot' });
    expect(Object.keys(spans[0]!.attributes).some((key) => key.includes('arg'))).toBe(false);
    for (const span of spans) expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    context.disable();
  });
});

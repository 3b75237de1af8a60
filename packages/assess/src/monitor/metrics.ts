// Prometheus metrics from the calls' audit events, and an OpenTelemetry span around each call.
// Labels are tool names from the policy's catalog and verdicts only — never arguments, users or
// sessions — so that an unauthenticated /metrics leaks nothing and an agent inventing tool names
// cannot grow the label set: a call's event carries a tier only when its tool is in the catalog
// (declared or discovered), and the others are counted under `unknown`.
import { SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { Counter, Histogram, Registry } from 'prom-client';
import type { Enforcer } from '@posture/sdk';
import type { StoredEvent } from '@posture/storage';
import type { AnomalyAlert } from './anomaly.js';

export class PostureMetrics {
  readonly registry = new Registry();
  readonly #calls: Counter<'tool' | 'decision' | 'outcome'>;
  readonly #latency: Histogram<'tool'>;
  readonly #alerts: Counter<'kind'>;

  constructor() {
    this.#calls = new Counter({
      name: 'posture_calls_total',
      help: 'Tool calls by tool, decision and outcome',
      labelNames: ['tool', 'decision', 'outcome'],
      registers: [this.registry],
    });
    this.#latency = new Histogram({
      name: 'posture_call_duration_seconds',
      help: 'Time from a call reaching the enforcer to its evidence being written',
      labelNames: ['tool'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [this.registry],
    });
    this.#alerts = new Counter({
      name: 'posture_alerts_total',
      help: 'Anomaly alerts raised, by kind (before dedupe and rate limits)',
      labelNames: ['kind'],
      registers: [this.registry],
    });
  }

  /** For the enforcer's `observe` hook. */
  observe = (event: StoredEvent): void => {
    if (event.kind !== 'call') return;
    const tool = event.tool !== undefined && event.tier !== undefined ? event.tool : 'unknown';
    this.#calls.inc({ tool, decision: event.decision ?? 'none', outcome: event.outcome ?? 'none' });
    if (event.latency_ms !== undefined) this.#latency.observe({ tool }, event.latency_ms / 1000);
  };

  alert = (alert: AnomalyAlert): void => {
    this.#alerts.inc({ kind: alert.kind });
  };

  /** The Prometheus text exposition. */
  async text(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/**
 * The enforcer with a span (`posture.call`) around each call, a child of whatever span is active
 * (the gateway's request, the agent's run). A no-op unless an OpenTelemetry SDK is registered.
 */
export function withSpans(enforcer: Enforcer, tracer: Tracer = trace.getTracer('posture')): Enforcer {
  return {
    get policy() {
      return enforcer.policy;
    },
    refuse: (...args) => enforcer.refuse(...args),
    note: (event) => enforcer.note(event),
    call: (call, execute, options) =>
      tracer.startActiveSpan(
        'posture.call',
        { attributes: { 'posture.agent': call.agent, 'posture.tool': call.tool } },
        async (span) => {
          try {
            const result = await enforcer.call(call, execute, options);
            span.setAttribute('posture.status', result.status);
            if (result.decision) {
              span.setAttribute('posture.decision', result.decision.decision);
              span.setAttribute('posture.rules', result.decision.rules);
              span.setAttribute(
                'posture.reasons',
                result.decision.reasons.map((reason) => reason.code),
              );
            }
            if (result.event?.seq !== undefined) span.setAttribute('posture.audit_seq', result.event.seq);
            if (result.status === 'failed' || result.status === 'timed_out' || result.status === 'error')
              span.setStatus({ code: SpanStatusCode.ERROR, message: result.status });
            return result;
          } finally {
            span.end();
          }
        },
      ),
  };
}

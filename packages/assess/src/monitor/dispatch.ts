// Where alerts go: deduplicated (one per agent, kind and tool within `dedupe`), rate-limited
// (`max_per_hour` across all agents), recorded as audit events, and sent to sinks. Deciding
// whether to send is synchronous and cheap; the sending itself runs in the background.
import { durationMs, type Alerts } from '@posture/core';
import type { AuditEvent } from '@posture/storage';
import { alertSettings, type AnomalyAlert } from './anomaly.js';

/** Delivers one alert somewhere; a failure is counted, never thrown at a call. */
export type AlertSink = (alert: SentAlert) => Promise<void>;

export interface SentAlert extends AnomalyAlert {
  /** How many alerts of this key were held back by dedupe since the last one sent. */
  repeats: number;
}

export interface AlertDispatcherOptions {
  alerts?: Alerts | undefined;
  sinks: AlertSink[];
  /** Records the alert as an audit event: `enforcer.note`. */
  note?: (event: Omit<AuditEvent, 'time'>) => Promise<unknown>;
}

export interface AlertStats {
  sent: number;
  deduplicated: number;
  rate_limited: number;
  sink_failures: number;
}

export class AlertDispatcher {
  readonly #sinks: AlertSink[];
  readonly #note: AlertDispatcherOptions['note'];
  readonly #dedupeMs: number;
  readonly #maxPerHour: number;
  /** Per key: when the last alert was sent, and how many were held back since. */
  readonly #last = new Map<string, { at: number; held: number }>();
  #hour = -1;
  #sentThisHour = 0;
  readonly #inFlight = new Set<Promise<void>>();
  readonly stats: AlertStats = { sent: 0, deduplicated: 0, rate_limited: 0, sink_failures: 0 };

  constructor(options: AlertDispatcherOptions) {
    const settings = alertSettings(options.alerts);
    this.#sinks = options.sinks;
    this.#note = options.note;
    this.#dedupeMs = durationMs(settings.dedupe);
    this.#maxPerHour = settings.max_per_hour;
  }

  /** Decides whether the alert goes out, and sends it in the background. */
  dispatch = (alert: AnomalyAlert): void => {
    const at = Date.parse(alert.time);
    const key = `${alert.agent}\u0000${alert.kind}\u0000${alert.tool ?? ''}`;
    const last = this.#last.get(key);
    if (last && at - last.at < this.#dedupeMs) {
      last.held++;
      this.stats.deduplicated++;
      return;
    }
    const hour = Math.floor(at / 3_600_000);
    if (hour !== this.#hour) {
      this.#hour = hour;
      this.#sentThisHour = 0;
    }
    if (this.#sentThisHour >= this.#maxPerHour) {
      this.stats.rate_limited++;
      return;
    }
    this.#sentThisHour++;
    this.#last.set(key, { at, held: 0 });
    this.stats.sent++;
    this.#track(this.#deliver({ ...alert, repeats: last?.held ?? 0 }));
  };

  /** Waits until every alert dispatched so far was recorded and delivered (or failed). */
  async flush(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  async #deliver(alert: SentAlert): Promise<void> {
    const { kind, agent, tool, message, value, threshold, repeats } = alert;
    await this.#note?.({
      kind: 'alert',
      actor: { agent },
      ...(tool !== undefined ? { tool } : {}),
      detail: { alert: `anomaly.${kind}`, message, value, threshold, repeats, observed_at: alert.time },
    }).catch(() => {});
    await Promise.all(
      this.#sinks.map((sink) =>
        sink(alert).catch(() => {
          this.stats.sink_failures++;
        }),
      ),
    );
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }
}

/** One JSON line per alert on a stream (standard error, a log file). */
export function logSink(stream: { write(text: string): unknown }): AlertSink {
  return async (alert) => {
    stream.write(`${JSON.stringify({ level: 'warn', msg: 'posture alert', ...alert })}\n`);
  };
}

export interface WebhookOptions {
  /** Extra headers (an `Authorization` the receiver expects). */
  headers?: Record<string, string>;
  /** Give up on a receiver that does not answer within this; 5 s by default. */
  timeoutMs?: number;
}

/** POSTs the alert as JSON; a status other than 2xx is a failure. */
export function webhookSink(url: string, options: WebhookOptions = {}): AlertSink {
  return post(url, options, (alert) => ({ source: 'posture', alert }));
}

/** POSTs a Slack-compatible message (`text`, plus blocks) to an incoming webhook URL. */
export function slackSink(url: string, options: WebhookOptions = {}): AlertSink {
  return post(url, options, (alert) => {
    const subject = `${alert.agent}${alert.tool ? ` → ${alert.tool}` : ''}`;
    const text = `:rotating_light: Posture alert \`${alert.kind}\` for ${subject}: ${alert.message}${
      alert.repeats > 0 ? ` (${alert.repeats} more since the last one)` : ''
    }`;
    return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
  });
}

function post(url: string, options: WebhookOptions, body: (alert: SentAlert) => unknown): AlertSink {
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new Error(`an alert webhook must be an http(s) URL, not \`${parsed.protocol}\``);
  const timeoutMs = options.timeoutMs ?? 5000;
  return async (alert) => {
    const response = await fetch(parsed, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: JSON.stringify(body(alert)),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer(); // drain, so the connection can be reused
    if (!response.ok) throw new Error(`the webhook answered ${response.status}`);
  };
}

// Anomaly detection: per-agent rolling baselines updated in O(1) per call, from the call's audit
// event, with no I/O — it runs on the enforcer's path (its `observe` hook). Deviations become
// alerts handed to a synchronous callback; dedupe, rate limits and delivery live in dispatch.ts.
import { Alerts as AlertsSchema, type Alerts } from '@posture/core';
import type { StoredEvent } from '@posture/storage';

export type AlertKind = 'call_rate' | 'write_rate' | 'failures' | 'denials' | 'new_tool' | 'unusual_hour';

export interface AnomalyAlert {
  kind: AlertKind;
  agent: string;
  /** The tool of the call that raised it. */
  tool?: string;
  /** ISO 8601, the time of the call that raised it. */
  time: string;
  message: string;
  /** What was observed, and the threshold it crossed. */
  value: number;
  threshold: number;
}

/** The alert settings in force: the policy's `alerts` section with its defaults filled in. */
export const alertSettings = (alerts: Alerts | undefined): Alerts => alerts ?? AlertsSchema.parse({});

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
/** Weight of the newest minute in the per-minute averages (about a 20-minute memory). */
const ALPHA = 0.05;
/** Rates are compared with a usual rate only once there are this many minutes of history… */
const RATE_HISTORY_MS = 10 * MINUTE_MS;
/** …and hours of the day only once there is a day of it. */
const HOURS_HISTORY_MS = 24 * HOUR_MS;

/** The last `size` outcomes as 0/1 and their running sum. */
class Ring {
  readonly #slots: Uint8Array;
  #at = 0;
  sum = 0;
  constructor(size: number) {
    this.#slots = new Uint8Array(size);
  }
  push(value: 0 | 1): void {
    this.sum += value - this.#slots[this.#at]!;
    this.#slots[this.#at] = value;
    this.#at = (this.#at + 1) % this.#slots.length;
  }
}

/** One agent's rolling state: fixed size, whatever the traffic. */
class Baseline {
  calls = 0;
  readonly firstSeen: number;
  /** The minute (since the epoch) the current counts belong to. */
  minute = -1;
  minuteCalls = 0;
  minuteWrites = 0;
  /** Exponentially weighted per-minute averages over the minutes before the current one. */
  avgCalls = 0;
  avgWrites = 0;
  /** Whether this minute's rate alerts were raised already. */
  rateRaised = false;
  writeRaised = false;
  readonly tools = new Set<string>();
  readonly hours = new Uint32Array(24);
  /** The last `window` outcomes as 0/1, in rings, with their running sums. */
  readonly failures: Ring;
  readonly denials: Ring;

  constructor(firstSeen: number, failWindow: number, denyWindow: number) {
    this.firstSeen = firstSeen;
    this.failures = new Ring(failWindow);
    this.denials = new Ring(denyWindow);
  }
}

export interface AnomalyMonitor {
  /** Feeds one audit event (calls only; other kinds are ignored). Never throws, never blocks. */
  observe(event: StoredEvent): void;
}

export function createAnomalyMonitor(
  alerts: Alerts | undefined,
  raise: (alert: AnomalyAlert) => void,
): AnomalyMonitor {
  return new RollingMonitor(alertSettings(alerts), raise);
}

class RollingMonitor implements AnomalyMonitor {
  readonly #settings: Alerts;
  readonly #raise: (alert: AnomalyAlert) => void;
  readonly #agents = new Map<string, Baseline>();

  constructor(settings: Alerts, raise: (alert: AnomalyAlert) => void) {
    this.#settings = settings;
    this.#raise = raise;
  }

  // A property, so that `observe: monitor.observe` can be handed to the enforcer as it is.
  observe = (event: StoredEvent): void => {
    if (event.kind !== 'call') return;
    const agent = event.actor.agent;
    if (agent === undefined) return;
    const time = Date.parse(event.time);
    if (Number.isNaN(time)) return;
    const s = this.#settings;
    let base = this.#agents.get(agent);
    if (!base) {
      base = new Baseline(
        time,
        s.failures === false ? 1 : s.failures.window,
        s.denials === false ? 1 : s.denials.window,
      );
      this.#agents.set(agent, base);
    }
    const warm = base.calls >= s.warmup;
    const rateWarm = warm && time - base.firstSeen >= RATE_HISTORY_MS;
    const tool = event.tool;
    const write = event.access === 'write' || event.access === 'admin';

    // Rates: roll the minute over, folding the finished one (and any empty ones) into the averages.
    // An event older than the current minute (another replica's clock) counts in the current one.
    const minute = Math.floor(time / MINUTE_MS);
    if (minute > base.minute) {
      if (base.minute >= 0) {
        const gap = Math.min(minute - base.minute, 10_000);
        const decay = gap > 1 ? (1 - ALPHA) ** (gap - 1) : 1;
        base.avgCalls = (base.avgCalls * (1 - ALPHA) + ALPHA * base.minuteCalls) * decay;
        base.avgWrites = (base.avgWrites * (1 - ALPHA) + ALPHA * base.minuteWrites) * decay;
      }
      base.minute = minute;
      base.minuteCalls = 0;
      base.minuteWrites = 0;
      base.rateRaised = false;
      base.writeRaised = false;
    }
    base.minuteCalls++;
    if (write) base.minuteWrites++;
    if (rateWarm && s.call_rate !== false && !base.rateRaised) {
      const threshold = Math.max(s.call_rate.min, s.call_rate.factor * base.avgCalls);
      if (base.minuteCalls >= threshold) {
        base.rateRaised = true;
        this.#alert(
          'call_rate',
          agent,
          tool,
          event.time,
          base.minuteCalls,
          threshold,
          `${base.minuteCalls} calls this minute; usually about ${base.avgCalls.toFixed(1)}`,
        );
      }
    }
    if (rateWarm && write && s.write_rate !== false && !base.writeRaised) {
      const threshold = Math.max(s.write_rate.min, s.write_rate.factor * base.avgWrites);
      if (base.minuteWrites >= threshold) {
        base.writeRaised = true;
        this.#alert(
          'write_rate',
          agent,
          tool,
          event.time,
          base.minuteWrites,
          threshold,
          `${base.minuteWrites} writes this minute; usually about ${base.avgWrites.toFixed(1)}`,
        );
      }
    }

    // Failures and denials over the last calls.
    const failed = event.outcome === 'failed' || event.outcome === 'timed_out' ? 1 : 0;
    const denied = event.decision === 'deny' || event.outcome === 'denied' ? 1 : 0;
    base.failures.push(failed);
    base.denials.push(denied);
    const seen = base.calls + 1;
    if (s.failures !== false && failed && seen >= s.failures.window) {
      const share = base.failures.sum / s.failures.window;
      if (share >= s.failures.ratio)
        this.#alert(
          'failures',
          agent,
          tool,
          event.time,
          share,
          s.failures.ratio,
          `${Math.round(share * 100)}% of the last ${s.failures.window} calls failed`,
        );
    }
    if (s.denials !== false && denied && seen >= s.denials.window) {
      const share = base.denials.sum / s.denials.window;
      if (share >= s.denials.ratio)
        this.#alert(
          'denials',
          agent,
          tool,
          event.time,
          share,
          s.denials.ratio,
          `${Math.round(share * 100)}% of the last ${s.denials.window} calls were denied`,
        );
    }

    // First use of a tool, and an hour of the day the agent is rarely active in.
    if (tool !== undefined && !base.tools.has(tool)) {
      base.tools.add(tool);
      if (warm && s.new_tool)
        this.#alert('new_tool', agent, tool, event.time, 1, 0, `first call of \`${tool}\``);
    }
    const hour = Math.floor(time / HOUR_MS) % 24;
    if (warm && s.unusual_hours !== false && time - base.firstSeen >= HOURS_HISTORY_MS) {
      const share = base.hours[hour]! / base.calls;
      if (share < s.unusual_hours.min_share)
        this.#alert(
          'unusual_hour',
          agent,
          tool,
          event.time,
          share,
          s.unusual_hours.min_share,
          `a call at ${String(hour).padStart(2, '0')}:00 UTC, an hour with ${(share * 100).toFixed(1)}% of this agent's calls`,
        );
    }
    base.hours[hour]!++;
    base.calls = seen;
  };

  #alert(
    kind: AlertKind,
    agent: string,
    tool: string | undefined,
    time: string,
    value: number,
    threshold: number,
    message: string,
  ): void {
    try {
      this.#raise({ kind, agent, ...(tool !== undefined ? { tool } : {}), time, message, value, threshold });
    } catch {
      // delivering an alert is not the call's concern
    }
  }
}

// Anomaly detection, alert delivery and metrics wired together for one enforcer: hand `observe`
// to `createEnforcer`, then `attach` the enforcer so that alerts are recorded as its audit events.
import type { CompiledPolicy } from '@posture/core';
import type { Enforcer } from '@posture/sdk';
import type { AuditEvent, StoredEvent } from '@posture/storage';
import { createAnomalyMonitor } from './anomaly.js';
import { AlertDispatcher, type AlertSink } from './dispatch.js';
import { PostureMetrics } from './metrics.js';

export interface Monitoring {
  /** For `createEnforcer({ observe })`. */
  observe(event: StoredEvent): void;
  /** Alerts are recorded through this enforcer's `note` from now on. */
  attach(enforcer: Pick<Enforcer, 'note'>): void;
  readonly metrics: PostureMetrics;
  readonly alerts: AlertDispatcher;
}

export function createMonitoring(policy: CompiledPolicy, sinks: AlertSink[] = []): Monitoring {
  let note: ((event: Omit<AuditEvent, 'time'>) => Promise<unknown>) | undefined;
  const settings = policy.policy.alerts;
  const metrics = new PostureMetrics();
  const alerts = new AlertDispatcher({
    alerts: settings,
    sinks,
    note: (event) => note?.(event) ?? Promise.resolve(),
  });
  const monitor = createAnomalyMonitor(settings, (alert) => {
    metrics.alert(alert);
    alerts.dispatch(alert);
  });
  return {
    observe: (event) => {
      monitor.observe(event);
      metrics.observe(event);
    },
    attach: (enforcer) => {
      note = (event) => enforcer.note(event);
    },
    metrics,
    alerts,
  };
}

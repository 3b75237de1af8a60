export {
  alertSettings,
  createAnomalyMonitor,
  type AlertKind,
  type AnomalyAlert,
  type AnomalyMonitor,
} from './anomaly.js';
export {
  AlertDispatcher,
  logSink,
  slackSink,
  webhookSink,
  type AlertDispatcherOptions,
  type AlertSink,
  type AlertStats,
  type SentAlert,
  type WebhookOptions,
} from './dispatch.js';
export { PostureMetrics, withSpans } from './metrics.js';
export { createMonitoring, type Monitoring } from './monitoring.js';

import type { StoredEvent } from '../ports.js';

// OCSF API Activity (class 6003, category 6 Application Activity) with the security_control
// profile, so a SIEM sees each tool call as an API call with Posture's verdict on it.
// Per-call decisions go in `actor.authorizations` and the security-control fields, not in
// Authorize Session (3003), which is about privileges granted at login.
export const OCSF_VERSION = '1.8.0';

const ACTIVITY = { read: [2, 'Read'], write: [3, 'Update'], admin: [99, 'Other'] } as const;

/** action_id and disposition_id for each verdict and outcome (OCSF security_control profile). */
function control(event: StoredEvent): {
  action_id: number;
  action: string;
  disposition_id: number;
  disposition: string;
} {
  if (event.outcome === 'pending') {
    return event.decision === 'confirm'
      ? { action_id: 2, action: 'Denied', disposition_id: 23, disposition: 'Challenge' }
      : { action_id: 2, action: 'Denied', disposition_id: 14, disposition: 'Delayed' };
  }
  if (event.decision === 'deny' || event.outcome === 'denied' || event.outcome === 'rejected') {
    return { action_id: 2, action: 'Denied', disposition_id: 2, disposition: 'Blocked' };
  }
  if (event.approval_id !== undefined || event.outcome === 'approved') {
    return { action_id: 1, action: 'Allowed', disposition_id: 8, disposition: 'Approved' };
  }
  return { action_id: 1, action: 'Allowed', disposition_id: 1, disposition: 'Allowed' };
}

const FAILED = new Set(['failed', 'timed_out', 'error', 'denied', 'rejected']);

/** One audit event as an OCSF API Activity record. */
export function toOcsf(event: StoredEvent): Record<string, unknown> {
  const [activityId, activityName] = ACTIVITY[event.access ?? 'admin'];
  const [server, tool] = event.tool?.includes('/')
    ? (event.tool.split('/', 2) as [string, string])
    : [undefined, event.tool];
  const failed = event.outcome !== undefined && FAILED.has(event.outcome);
  const verdict = control(event);
  const riskLevel =
    event.tier === undefined ? undefined : (['Low', 'Medium', 'High'] as const)[event.tier - 1];
  return {
    class_uid: 6003,
    class_name: 'API Activity',
    category_uid: 6,
    category_name: 'Application Activity',
    activity_id: activityId,
    activity_name: activityName,
    type_uid: 6003 * 100 + activityId,
    time: Date.parse(event.time),
    severity_id: verdict.action_id === 2 ? 3 : 1,
    severity: verdict.action_id === 2 ? 'Medium' : 'Informational',
    // Unknown: still waiting, or interrupted (the call may or may not have completed).
    status_id:
      event.outcome === undefined || event.outcome === 'pending' || event.outcome === 'interrupted'
        ? 0
        : failed
          ? 2
          : 1,
    status: event.outcome ?? 'unknown',
    ...verdict,
    ...(riskLevel ? { risk_level: riskLevel, risk_level_id: event.tier } : {}),
    ...(event.rules?.[0] ? { policy: { name: event.rules[0], uid: event.rules[0] } } : {}),
    actor: {
      ...(event.actor.user ? { user: { name: event.actor.user, uid: event.actor.user } } : {}),
      ...(event.actor.agent ? { app_name: event.actor.agent, invoked_by: event.actor.agent } : {}),
      ...(event.session ? { session: { uid: event.session } } : {}),
      authorizations: [
        {
          decision: event.decision ?? 'none',
          ...(event.rules?.length ? { policy: { name: event.rules.join(', '), uid: event.rules[0] } } : {}),
        },
      ],
    },
    api: {
      operation: tool ?? event.kind,
      ...(server ? { service: { name: server } } : {}),
      request: { uid: String(event.seq) },
      ...(failed
        ? {
            response: {
              error: event.outcome,
              ...(event.reasons?.[0] ? { message: event.reasons[0].message } : {}),
            },
          }
        : {}),
    },
    src_endpoint: { name: event.actor.agent ?? 'unknown' },
    ...(event.latency_ms !== undefined ? { duration: event.latency_ms } : {}),
    metadata: {
      version: OCSF_VERSION,
      profiles: ['security_control'],
      product: { name: 'Posture', vendor_name: 'Posture' },
      uid: String(event.seq),
      log_name: 'posture-audit',
      ...(event.approval_id ? { correlation_uid: event.approval_id } : {}),
    },
    unmapped: {
      posture: {
        kind: event.kind,
        seq: event.seq,
        ...(event.actor.tool_identity ? { tool_identity: event.actor.tool_identity } : {}),
        ...(event.args_hash ? { args_hash: event.args_hash } : {}),
        ...(event.args !== undefined ? { args: event.args } : {}),
        ...(event.rules ? { rules: event.rules } : {}),
        ...(event.reasons ? { reasons: event.reasons } : {}),
        ...(event.redactions ? { redactions: event.redactions } : {}),
        ...(event.detail ? { detail: event.detail } : {}),
      },
    },
  };
}

import type { AuditEvent, ApprovalRequest } from '../ports.js';

/**
 * The audit event that records a human's decision on an approval request: who decided, how they
 * proved themselves again (step-up), and the exact call it binds. Every place that decides
 * requests (the CLI, the console) appends this, so the evidence reads the same whoever decided.
 */
export function approvalEvent(request: ApprovalRequest, at: Date): AuditEvent {
  const approved = request.status === 'approved';
  return {
    time: at.toISOString(),
    kind: 'approval',
    actor: { user: request.decided_by ?? '', agent: request.agent },
    session: request.session,
    tool: request.tool,
    args_hash: request.args_hash,
    decision: approved ? 'allow' : 'deny',
    outcome: approved ? 'approved' : 'rejected',
    approval_id: request.id,
    rules: request.rules,
    detail: {
      requested_by: request.user,
      approvers: request.approvers,
      ...(request.step_up_proof ? { step_up: request.step_up_proof } : {}),
      ...(request.comment ? { comment: request.comment } : {}),
      requested_at: request.created_at,
      expires_at: request.expires_at,
    },
  };
}

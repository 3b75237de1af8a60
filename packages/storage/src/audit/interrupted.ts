// The one event of a call recorded before it ran (`AuditLog.begin`) whose own event never came:
// the process or the log that recorded it stopped first. Every backend writes the same one.
import type { AuditEvent } from '../ports.js';

export const INTERRUPTED =
  'the process that recorded this call stopped while the call ran: whether it completed is unknown';

export function interruptedEvent(begun: AuditEvent): AuditEvent {
  return { ...begun, outcome: 'interrupted', detail: { ...begun.detail, error: INTERRUPTED } };
}

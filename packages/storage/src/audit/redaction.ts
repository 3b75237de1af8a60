// Evidence is always redacted: every audit log runs the core's secret and personal-data detector
// over an event's `args`, `detail` and reason messages before it is stored, whatever the caller did
// first, so a caller that forgets cannot put a secret into the log. What was removed is listed in
// `redactions` (class, path, count), never the values.
import { createDetector, redact, type Detector } from '@posture/core';
import type { AuditEvent } from '../ports.js';

export interface EvidenceRedactionOptions {
  /** The detector to scan with, e.g. one with the policy's custom patterns (default: the built-in classes). */
  detector?: Detector;
  /** `mask` (default): `[REDACTED:class]`; `hash`: a keyed hash, so equal values can be matched. */
  mode?: 'mask' | 'hash';
  /** The per-installation HMAC key, for `hash`. */
  key?: Uint8Array;
}

export type EvidenceRedactor = (event: AuditEvent) => AuditEvent;

/** The fields scanned, under the names their paths start with (`$.args…`, `$.reasons[0].message`). */
interface Scanned {
  args?: unknown;
  detail?: Record<string, unknown>;
  reasons?: Array<{ message: unknown }>;
}

export function createEvidenceRedactor(options: EvidenceRedactionOptions = {}): EvidenceRedactor {
  const detector = options.detector ?? createDetector();
  const mode = options.mode ?? 'mask';
  if (mode === 'hash' && (options.key === undefined || options.key.length === 0)) {
    throw new TypeError('evidence redaction mode `hash` needs a key');
  }
  return (event) => {
    if (typeof event !== 'object' || event === null) return event;
    const scanned: Scanned = {};
    if (event.args !== undefined) scanned.args = event.args;
    if (event.detail !== undefined) scanned.detail = event.detail;
    // Only the messages: codes are stable identifiers from the policy engine.
    if (Array.isArray(event.reasons)) scanned.reasons = event.reasons.map((r) => ({ message: r?.message }));
    const findings = detector.scanValue(scanned);
    // Most events hold nothing to redact: they are stored as given, without a copy.
    if (findings.length === 0) return event;
    const { value, removed } = redact(scanned, findings, {
      mode,
      ...(options.key !== undefined ? { key: options.key } : {}),
    });
    const clean = value as Scanned;
    const out: AuditEvent = { ...event };
    if ('args' in clean) out.args = clean.args;
    if ('detail' in clean) out.detail = clean.detail as Record<string, unknown>;
    if (clean.reasons !== undefined) {
      out.reasons = event.reasons!.map((reason, i) =>
        typeof reason?.message === 'string'
          ? { ...reason, message: clean.reasons![i]!.message as string }
          : reason,
      );
    }
    out.redactions = [...(Array.isArray(event.redactions) ? event.redactions : []), ...removed];
    return out;
  };
}

// The redaction every audit log applies before storing an event (the contract suite checks that
// each backend does; this checks the redactor's own options).
import { createDetector } from '@posture/core';
import { describe, expect, it } from 'vitest';
import { createEvidenceRedactor } from '../src/audit/redaction.js';
import type { AuditEvent } from '../src/ports.js';
import { sampleEvent } from './support/events.js';

const TOKEN = 'ghp_R2d9Xk4LmP7qW1zT8vB3nY6cJ0hF5sA2eG9u';

describe('evidence redaction', () => {
  it('returns a clean event itself, without a copy', () => {
    const redact = createEvidenceRedactor();
    const event = sampleEvent(3);
    expect(redact(event)).toBe(event);
  });

  it('masks without changing the caller’s event', () => {
    const redact = createEvidenceRedactor();
    const event = sampleEvent(0, { args: { token: TOKEN } });
    const out = redact(event);
    expect(out.args).toEqual({ token: '[REDACTED:github_token]' });
    expect(event.args).toEqual({ token: TOKEN });
    expect(out.redactions).toEqual([
      { class: 'pii', path: '/note', count: 1 },
      { class: 'github_token', path: '$.args.token', count: 1 },
    ]);
  });

  it('hashes with a key, so equal values stay matchable, and needs the key', () => {
    const key = new TextEncoder().encode('installation key');
    const redact = createEvidenceRedactor({ mode: 'hash', key });
    const a = redact(sampleEvent(0, { args: { token: TOKEN } }));
    const b = redact(sampleEvent(1, { detail: { copy: TOKEN } }));
    expect(a.args).toEqual({ token: expect.stringMatching(/^\[HASH:github_token:[0-9a-f]{16}\]$/) });
    expect((b.detail as { copy: string }).copy).toBe((a.args as { token: string }).token);
    expect(() => createEvidenceRedactor({ mode: 'hash' })).toThrow(
      'evidence redaction mode `hash` needs a key',
    );
  });

  it('uses a detector with the policy’s own patterns', () => {
    const detector = createDetector({
      patterns: { ticket_secret: { pattern: 'TS-[0-9]{6}', class: 'secrets' } },
    });
    const redact = createEvidenceRedactor({ detector });
    const out = redact(sampleEvent(0, { args: { ref: 'see TS-123456' } }));
    expect(out.args).toEqual({ ref: 'see [REDACTED:ticket_secret]' });
  });

  it('scans reason messages, leaves codes and reasons without a message alone', () => {
    const redact = createEvidenceRedactor();
    const reasons = [
      { code: 'grant.match', message: `token ${TOKEN} seen` },
      { code: 'x' } as unknown as { code: string; message: string },
    ];
    const out = redact({ ...sampleEvent(0), reasons } as AuditEvent);
    expect(out.reasons).toEqual([
      { code: 'grant.match', message: 'token [REDACTED:github_token] seen' },
      { code: 'x' },
    ]);
  });
});

// The audit explorer, verification, the pages' data, the live stream, and the database going
// away under an open console.
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteApprovalQueue, openSqliteAuditLog, type AuditEvent } from '@posture/storage';
import { startHarness, type Client, type Harness } from './harness.js';

let h: Harness;
let viewer: Client;

beforeEach(async () => {
  h = await startHarness();
  await h.addUser('vic', ['viewer']);
  await h.addUser('carol', ['approver'], { totp: true });
  viewer = h.client();
  await viewer.login('vic');
});

afterEach(async () => {
  await h.close();
});

function call(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    time: new Date(h.clock.now).toISOString(),
    kind: 'call',
    actor: { user: 'alice', agent: 'support-bot' },
    tool: 'tickets/get_ticket',
    decision: 'allow',
    outcome: 'allowed',
    ...overrides,
  };
}

/** Reads server-sent events until `until` says stop. */
async function readEvents(
  client: Client,
  until: (events: Array<{ event: string; data: unknown }>) => boolean,
  whileOpen: () => Promise<void> = async () => {},
) {
  const controller = new AbortController();
  const response = await fetch(`${client.base}/api/stream`, {
    headers: { cookie: client.cookie! },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const events: Array<{ event: string; data: unknown }> = [];
  let buffer = '';
  let acted = false;
  const deadline = Date.now() + 10_000;
  while (!until(events) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
    if (!acted && events.length > 0) {
      acted = true;
      await whileOpen();
    }
  }
  controller.abort();
  return events;
}

describe('audit explorer', () => {
  beforeEach(async () => {
    for (let i = 0; i < 30; i++) {
      await h.audit.append(
        call({
          tool: i % 3 === 0 ? 'payments/refund' : 'tickets/get_ticket',
          decision: i % 3 === 0 ? 'deny' : 'allow',
          outcome: i % 3 === 0 ? 'denied' : 'allowed',
          args: { ticket: `T-${i}` },
        }),
      );
    }
    await h.audit.checkpoint();
  });

  it('filters, pages in both directions, and searches text', async () => {
    const denied = await viewer.get('/api/audit?decision=deny&tool=payments/refund');
    expect(denied.status).toBe(200);
    expect(denied.body.events).toHaveLength(10);
    expect(denied.body.events.every((e: AuditEvent) => e.decision === 'deny')).toBe(true);
    const page1 = await viewer.get('/api/audit?limit=12');
    expect(page1.body.events.map((e: { seq: number }) => e.seq)).toEqual([...Array(12).keys()]);
    const page2 = await viewer.get(`/api/audit?limit=12&after=${page1.body.next}`);
    expect(page2.body.events[0].seq).toBe(12);
    const newest = await viewer.get('/api/audit?order=desc&limit=5');
    expect(newest.body.events.map((e: { seq: number }) => e.seq)).toEqual([30, 29, 28, 27, 26]);
    const older = await viewer.get(`/api/audit?order=desc&limit=5&before=${newest.body.next}`);
    expect(older.body.events[0].seq).toBe(25);
    const text = await viewer.get('/api/audit?q=t-17');
    // Seq 0 is vic's login; the calls follow.
    expect(text.body.events.map((e: { seq: number }) => e.seq)).toEqual([18]);
    const detail = await viewer.get('/api/audit/18');
    expect(detail.body.event).toMatchObject({ seq: 18, args: { ticket: 'T-17' } });
    expect((await viewer.get('/api/audit/9999')).status).toBe(404);
    expect((await viewer.get('/api/audit?decision=maybe')).status).toBe(400);
    expect((await viewer.get('/api/audit?since=yesterday')).status).toBe(400);
    expect((await viewer.get('/api/audit?limit=0')).status).toBe(400);
  });

  it('verifies the log in one call, and finds an edited event', async () => {
    const ok = await viewer.post('/api/audit/verify');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ ok: true, size: 31, problems: [] });
    expect(ok.body.root).toEqual(expect.any(String));
    expect(ok.body.checkpoint).toContain('\n31\n');
    // Someone edits an event behind Posture's back.
    const raw = new Database(h.db);
    const row = raw.prepare('SELECT json FROM audit_events WHERE seq = 5').get() as { json: string };
    raw.prepare('UPDATE audit_events SET json = ? WHERE seq = 5').run(row.json.replace('T-4', 'T-X'));
    raw.close();
    const bad = await viewer.post('/api/audit/verify');
    expect(bad.body.ok).toBe(false);
    expect(bad.body.problems.join(' ')).toMatch(/first bad index 5/);
  });
});

describe('pages', () => {
  it('overview: scores per pillar, decisions per hour, recent alerts without logins, counts', async () => {
    await h.audit.append(call({ decision: 'deny', outcome: 'denied' }));
    await h.audit.append(call({ time: new Date(h.clock.now - 2 * 3_600_000).toISOString() }));
    await h.audit.append({
      time: new Date(h.clock.now).toISOString(),
      kind: 'alert',
      actor: { agent: 'support-bot' },
      detail: { alert: 'anomaly.rate', description: 'unusual call rate' },
    });
    await h.request();
    const reply = await viewer.get('/api/overview');
    expect(reply.status).toBe(200);
    const body = reply.body;
    expect(body.scores.overall).toEqual(expect.any(Number));
    expect(body.scores.pillars.map((p: { pillar: string }) => p.pillar)).toEqual([
      'identity',
      'permission',
      'tool-chain',
      'data',
      'execution',
      'monitoring',
    ]);
    expect(body.decisions).toHaveLength(24);
    expect(body.decisions.at(-1)).toMatchObject({ deny: 1, allow: 0 });
    expect(body.decisions.at(-3)).toMatchObject({ allow: 1 });
    expect(body.outcomes).toMatchObject({ denied: 1, allowed: 1 });
    expect(body.alerts.map((a: AuditEvent) => a.detail?.alert)).toEqual(['anomaly.rate']);
    expect(body.pending_approvals).toBe(1);
    expect(body.audit_size).toBe(4); // three appended and vic's login
    // Read again after more calls (and twice at once): counted once each.
    await h.audit.append(call({ decision: 'deny', outcome: 'denied' }));
    const [again, twice] = await Promise.all([viewer.get('/api/overview'), viewer.get('/api/overview')]);
    expect(again.body.decisions.at(-1)).toMatchObject({ deny: 2, allow: 0 });
    expect(twice.body.decisions.at(-1)).toMatchObject({ deny: 2, allow: 0 });
    h.clock.advance(23 * 3_600_000);
    await viewer.login('vic'); // a day later the session is long gone
    const dayLater = await viewer.get('/api/overview');
    expect(dayLater.body.decisions[0]).toMatchObject({ deny: 2 });
    expect(dayLater.body.decisions.reduce((n: number, b: { allow: number }) => n + b.allow, 0)).toBe(0);
    const alerts = await viewer.get('/api/alerts');
    expect(alerts.body.alerts).toHaveLength(1);
  });

  it('findings with remediations, and the policy with its validation', async () => {
    const findings = await viewer.get('/api/findings');
    expect(findings.status).toBe(200);
    expect(findings.body.findings.length).toBeGreaterThan(0);
    for (const finding of findings.body.findings) {
      expect(finding).toMatchObject({ id: expect.stringMatching(/^PST-/), remediation: expect.any(String) });
    }
    expect(findings.body.scores.overall).toEqual(expect.any(Number));
    const policy = await viewer.get('/api/policy');
    expect(policy.body.text).toContain('support-bot');
    expect(policy.body.problems).toEqual(expect.any(Array));
  });

  it('reports a broken policy’s problems with line and column', async () => {
    await h.close();
    h = await startHarness({
      policy: { path: '/p/posture.yaml', text: 'version: 1\nagents:\n  bot: { grants: 5 }\n' },
    });
    await h.addUser('vic', ['viewer']);
    viewer = h.client();
    await viewer.login('vic');
    const policy = await viewer.get('/api/policy');
    expect(policy.body.problems.length).toBeGreaterThan(0);
    expect(policy.body.problems[0]).toMatchObject({
      code: expect.any(String),
      line: expect.any(Number),
      column: expect.any(Number),
      severity: 'error',
    });
  });
});

describe('live updates', () => {
  it('streams a change after an audit append and after a new approval request', async () => {
    const events = await readEvents(
      viewer,
      (seen) => seen.filter((e) => e.event === 'change').length >= 3,
      async () => {
        await h.audit.append(call());
        await new Promise((resolve) => setTimeout(resolve, 200));
        await h.request();
      },
    );
    const changes = events.filter((e) => e.event === 'change').map((e) => e.data);
    expect(changes[0]).toEqual({ audit_size: 1, pending_approvals: 0 });
    expect(changes[1]).toEqual({ audit_size: 2, pending_approvals: 0 });
    expect(changes[2]).toEqual({ audit_size: 2, pending_approvals: 1 });
  });

  it('tells the stream its session expired, then ends it', async () => {
    const events = await readEvents(
      viewer,
      (seen) => seen.some((e) => e.event === 'expired'),
      async () => h.clock.advance(31 * 60_000),
    );
    expect(events.at(-1)).toEqual({ event: 'expired', data: { code: 'session_expired' } });
    expect((await viewer.get('/api/session')).body.error.code).toBe('session_expired');
  });

  it('refuses the stream without a session', async () => {
    const response = await fetch(`${h.url}/api/stream`);
    expect(response.status).toBe(401);
  });
});

describe('the database going away', () => {
  it('answers 503 store_unavailable while the store is closed, changes nothing, and recovers', async () => {
    const id = await h.request();
    const carol = h.client();
    await carol.login('carol');
    const streamed = readEvents(
      viewer,
      (seen) =>
        seen.some((e) => e.event === 'unavailable') && seen.at(-1)?.event === 'change' && seen.length > 2,
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    // The database goes away under the open console.
    await h.audit.close();
    await h.approvals.close();
    for (const path of [
      '/api/overview',
      '/api/approvals',
      '/api/audit',
      `/api/approvals/${id}`,
      '/api/health',
    ]) {
      const reply = await (path === '/api/health' ? h.client() : viewer).get(path);
      expect(reply.status, path).toBe(503);
      expect(reply.body.error.code).toBe('store_unavailable');
    }
    const decide = await carol.post(`/api/approvals/${id}/decide`, {
      approve: true,
      stepUp: { method: 'totp', code: h.code('carol') },
    });
    expect(decide.status).toBe(503);
    expect(decide.body.error.code).toBe('store_unavailable');
    // The session survived; a login cannot be recorded, so it does not happen.
    expect((await viewer.get('/api/session')).status).toBe(200);
    const login = await h.client().login('vic');
    expect(login.status).toBe(503);
    expect(login.headers.get('set-cookie')).toBeNull();
    // A failed login is evidence: it waits for the log.
    expect((await h.client().login('vic', 'a wrong guess')).status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 150));
    // It comes back.
    h.auditSwitch.use(await openSqliteAuditLog({ path: h.db }));
    h.approvalsSwitch.use(openSqliteApprovalQueue(h.db));
    expect((await h.client().get('/api/health')).status).toBe(200);
    const request = await viewer.get(`/api/approvals/${id}`);
    expect(request.body.approval.status).toBe('pending');
    expect(await h.audit.search({ kind: 'approval' })).toHaveLength(0);
    h.clock.advance(30_000);
    const retry = await carol.post(`/api/approvals/${id}/decide`, {
      approve: true,
      stepUp: { method: 'totp', code: h.code('carol') },
    });
    expect(retry.status).toBe(200);
    expect(await h.audit.search({ kind: 'approval' })).toHaveLength(1);
    const failed = (await h.audit.search({ kind: 'alert' })).filter(
      (e) => e.detail?.alert === 'console.login_failed',
    );
    expect(failed).toHaveLength(1);
    const events = await streamed;
    const kinds = events.map((e) => e.event);
    expect(kinds[0]).toBe('change');
    expect(kinds).toContain('unavailable');
    expect(kinds.at(-1)).toBe('change');
  });

  it('keeps an audit event the log refused and writes it once the log is back', async () => {
    const id = await h.request();
    const carol = h.client();
    await carol.login('carol');
    // Only the audit log goes away, after the console checked it and before it records.
    const realAudit = h.auditSwitch.current();
    let sizeCalls = 0;
    h.auditSwitch.use(
      new Proxy(realAudit, {
        get(target, key) {
          if (key === 'append') {
            return async () => {
              throw new Error('disk I/O error');
            };
          }
          if (key === 'size') sizeCalls++;
          const value: unknown = Reflect.get(target, key);
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
        },
      }),
    );
    const decide = await carol.post(`/api/approvals/${id}/decide`, {
      approve: true,
      stepUp: { method: 'totp', code: h.code('carol') },
    });
    expect(sizeCalls).toBeGreaterThan(0);
    expect(decide.status).toBe(503);
    expect(decide.body.error.message).toMatch(/decision is stored/);
    h.auditSwitch.use(realAudit);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const events = await realAudit.search({ kind: 'approval' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ approval_id: id, actor: { user: 'carol' } });
  });
});

import { describe, expect, it } from 'vitest';
import { guard, PostureRefused } from '../../src/frameworks/functions/index.js';
import { AWS_KEY, IDENTITY, REDACTED, setup } from './fixture.js';

describe('guard (plain async functions)', () => {
  it('runs an allowed call and returns the function’s value, with one audit event', async () => {
    const { enforcer, events } = setup();
    const seen: unknown[] = [];
    const getCustomer = guard(
      enforcer,
      { tool: 'crm/get_customer', identity: () => IDENTITY },
      async (args: { id: string }) => {
        seen.push(args);
        return { id: args.id, name: 'Ada' };
      },
    );
    expect(await getCustomer({ id: 'C-1' })).toEqual({ id: 'C-1', name: 'Ada' });
    expect(seen).toEqual([{ id: 'C-1' }]);
    expect(await events()).toEqual([['crm/get_customer', 'allow', 'allowed']]);
  });

  it('throws PostureRefused for a denied call, without running the function', async () => {
    const { enforcer, events } = setup();
    let ran = 0;
    const refund = guard(
      enforcer,
      { tool: 'payments/refund', identity: IDENTITY },
      async (_: { amount: number }) => ++ran,
    );
    const error: unknown = await refund({ amount: 9000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PostureRefused);
    const refused = error as PostureRefused;
    expect(refused.result.status).toBe('denied');
    expect(refused.message).toMatch(
      /^posture denied the call to `payments\/refund`: .*\[constraint\.failed\]/,
    );
    expect(ran).toBe(0);
    expect(await events()).toEqual([['payments/refund', 'deny', 'denied']]);
  });

  it('throws pending with the approval id, and runs once approved', async () => {
    const { enforcer, events, approve } = setup();
    let ran = 0;
    const refund = guard(
      enforcer,
      { tool: 'payments/refund', identity: IDENTITY },
      async (args: { amount: number }) => {
        ran++;
        return `refunded ${args.amount}`;
      },
    );
    const error = (await refund({ amount: 120 }).catch((e: unknown) => e)) as PostureRefused;
    expect(error.result.status).toBe('pending');
    const id = error.result.status === 'pending' ? error.result.approval.id : '';
    expect(error.message).toContain(`waits for approval \`${id}\``);
    expect(ran).toBe(0);
    await approve(id);
    expect(await refund({ amount: 120 })).toBe('refunded 120');
    expect(ran).toBe(1);
    // The approval was used once: the same call again waits for a new one.
    await expect(refund({ amount: 120 })).rejects.toMatchObject({ result: { status: 'pending' } });
    expect(ran).toBe(1);
    expect(await events()).toEqual([
      ['payments/refund', 'approve', 'pending'],
      ['payments/refund', 'allow', 'allowed'],
      ['payments/refund', 'approve', 'pending'],
    ]);
  });

  it('rethrows the function’s own error, recorded as failed', async () => {
    const { enforcer, events } = setup();
    class LookupError extends Error {}
    const lookup = guard(enforcer, { tool: 'crm/flaky_lookup', identity: IDENTITY }, async () => {
      throw new LookupError('crm is down');
    });
    await expect(lookup({})).rejects.toBeInstanceOf(LookupError);
    expect(await events()).toEqual([['crm/flaky_lookup', 'allow', 'failed']]);
  });
});

describe('guard: what the enforcer passes on', () => {
  it('hands the function the arguments as redacted by a data rule', async () => {
    const { enforcer } = setup();
    const comment = guard(
      enforcer,
      { tool: 'tickets/add_comment', identity: IDENTITY },
      async (args: { text: string }) => args.text,
    );
    expect(await comment({ text: `key ${AWS_KEY}` })).toBe(REDACTED);
  });

  it('aborts a call that outlasts the timeout, and refuses it as timed out', async () => {
    const { enforcer, events } = setup();
    let aborted = false;
    const slow = guard(enforcer, { tool: 'crm/slow_lookup', identity: IDENTITY }, (_args, { signal }) => {
      return new Promise((resolve) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          resolve('too late');
        });
      });
    });
    await expect(slow({})).rejects.toMatchObject({
      result: { status: 'timed_out' },
      message: 'the call to `crm/slow_lookup` timed out and was cancelled',
    });
    expect(aborted).toBe(true);
    expect(await events()).toEqual([['crm/slow_lookup', 'allow', 'timed_out']]);
  });

  it('does not run a call whose evidence cannot be written, and says so', async () => {
    const { enforcer } = setup({ failingAudit: true });
    let ran = 0;
    const getCustomer = guard(enforcer, { tool: 'crm/get_customer', identity: IDENTITY }, async () => ++ran);
    await expect(getCustomer({ id: 'C-1' })).rejects.toMatchObject({
      result: { status: 'error', code: 'evidence.unavailable' },
      message: expect.stringMatching(
        /^posture could not run the call to `crm\/get_customer`: .*disk full.*\[evidence\.unavailable\]$/,
      ),
    });
  });

  it('throws a clear error, before anything runs, when the identity is missing', async () => {
    const { enforcer, events } = setup();
    let ran = 0;
    const identity = () => ({ agent: 'support-bot' }) as unknown as typeof IDENTITY;
    const getCustomer = guard(enforcer, { tool: 'crm/get_customer', identity }, async () => ++ran);
    await expect(getCustomer({ id: 'C-1' })).rejects.toThrow(
      'the identity for `crm/get_customer` has no `user`, `session`: give `identity` as `{ agent, user, session }` or a function of the call context returning one',
    );
    expect(ran).toBe(0);
    expect(await events()).toEqual([]);
  });
});

// `posture exceptions grant|list|revoke`: standing exceptions (break-glass). For a bounded time an
// agent may call the matching tools without per-call approval; each is granted by an approver,
// with a justification, and every grant and revocation is an audit event.
import { durationMs, groupMembership } from '@posture/core';
import type { AuditEvent, ExceptionStore, StandingException } from '@posture/storage';
import type { Command } from 'commander';
import { CliError, type Register } from '../io.js';
import { readPolicy } from '../policy.js';
import { escapeText } from './approvals.js';

const DEFAULT_DB = '.posture/posture.db';
const REFUSED = 1;

interface GrantOptions {
  agent: string;
  tools: string;
  justification: string;
  as: string;
  for: string;
  policy: string;
  db: string;
}

async function withStore<T>(db: string, use: (store: ExceptionStore) => Promise<T>): Promise<T> {
  const { openSqliteExceptionStore } = await import('@posture/storage');
  let store: ExceptionStore;
  try {
    store = openSqliteExceptionStore(db, { create: false });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** The grant or revocation as evidence; without it the exception does not stand. */
async function record(db: string, event: AuditEvent): Promise<void> {
  const { openSqliteAuditLog } = await import('@posture/storage');
  const log = await openSqliteAuditLog({ path: db });
  try {
    await log.append(event);
  } finally {
    await log.close();
  }
}

function exceptionEvent(
  exception: StandingException,
  change: 'granted' | 'revoked',
  by: string,
  at: Date,
): AuditEvent {
  return {
    time: at.toISOString(),
    kind: 'exception',
    actor: { user: by, agent: exception.agent },
    outcome: change === 'granted' ? 'approved' : 'rejected',
    detail: {
      change,
      exception_id: exception.id,
      tools: exception.tools,
      justification: exception.justification,
      approved_by: exception.approved_by,
      expires_at: exception.expires_at,
    },
  };
}

function line(exception: StandingException, now: Date): string {
  const state = exception.revoked_at
    ? `revoked by ${escapeText(exception.revoked_by ?? '')}`
    : Date.parse(exception.expires_at) <= now.getTime()
      ? 'expired'
      : `active until ${exception.expires_at}`;
  return `${exception.id}  agent ${escapeText(exception.agent)}  ${exception.tools.map(escapeText).join(',')}  ${state}  by ${escapeText(exception.approved_by)}: ${escapeText(exception.justification)}`;
}

const dbOption = (command: Command) =>
  command.option('--db <path>', 'the SQLite store the gateway uses', DEFAULT_DB);

export const registerExceptions: Register = (program, io) => {
  const exceptions = program
    .command('exceptions')
    .description('standing exceptions (break-glass): bounded, justified, approved, on record');

  dbOption(
    exceptions
      .command('grant')
      .description('let an agent call tools without per-call approval for a while')
      .requiredOption('--agent <name>', 'the agent')
      .requiredOption('--tools <globs>', 'comma-separated globs over server/tool, as in grants')
      .requiredOption('--justification <text>', 'why (an incident, a ticket)')
      .requiredOption('--as <user>', 'the approving user: an approver of some tier in the policy')
      .option('--for <duration>', 'how long, at most 24h', '1h')
      .option('--policy <file>', 'policy file', 'posture.yaml'),
  ).action(async (options: GrantOptions) => {
    const { policy, compiled } = await readPolicy(io, options.policy);
    if (!compiled.agents.has(options.agent))
      throw new CliError(`agent \`${escapeText(options.agent)}\` is not declared`);
    if (!compiled.users.has(options.as))
      throw new CliError(`user \`${escapeText(options.as)}\` is not declared`);
    const groups = groupMembership(policy).get(options.as) ?? new Set<string>();
    const approvers = Object.values(policy.tiers).flatMap((tier) => tier?.approval?.approvers ?? []);
    const isApprover = approvers.some(
      (a) => a === options.as || (a.startsWith('group:') && groups.has(a.slice(6))),
    );
    if (!isApprover) {
      throw new CliError(
        `\`${escapeText(options.as)}\` is no approver of any tier: only approvers grant exceptions`,
        REFUSED,
      );
    }
    let ms: number;
    try {
      ms = durationMs(options.for);
    } catch {
      throw new CliError(`\`--for ${options.for}\` is not a duration such as 30m or 2h`);
    }
    const tools = options.tools
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const now = new Date();
    const exception = await withStore(options.db, async (store) => {
      try {
        return await store.append(
          {
            agent: options.agent,
            tools,
            justification: options.justification,
            approved_by: options.as,
            expires_at: new Date(now.getTime() + ms).toISOString(),
          },
          now,
        );
      } catch (error) {
        throw new CliError(`refused: ${(error as Error).message}`, REFUSED);
      }
    });
    try {
      await record(options.db, exceptionEvent(exception, 'granted', options.as, now));
    } catch (error) {
      // Evidence or nothing: an exception the log does not show is revoked at once.
      await withStore(options.db, (store) => store.revoke(exception.id, options.as, new Date()));
      throw new CliError(
        `not granted: the audit log did not record it (${(error as Error).message})`,
        REFUSED,
      );
    }
    io.stdout(`${line(exception, now)}\n`);
  });

  dbOption(exceptions.command('list').description('every exception, newest first').option('--json')).action(
    async (options: { db: string; json?: boolean }) => {
      const all = await withStore(options.db, (store) => store.list());
      if (options.json) io.stdout(`${JSON.stringify(all, null, 2)}\n`);
      else if (all.length === 0) io.stdout('no standing exceptions\n');
      else for (const exception of all) io.stdout(`${line(exception, new Date())}\n`);
    },
  );

  dbOption(
    exceptions
      .command('revoke')
      .description('end an exception now')
      .argument('<id>', 'the exception id')
      .requiredOption('--as <user>', 'who revokes it'),
  ).action(async (id: string, options: { db: string; as: string }) => {
    const now = new Date();
    const result = await withStore(options.db, (store) => store.revoke(id, options.as, now));
    if (!result.ok) throw new CliError(`refused (${result.code}): ${result.message}`, REFUSED);
    await record(options.db, exceptionEvent(result.exception, 'revoked', options.as, now));
    io.stdout(`revoked ${result.exception.id}\n`);
  });
};

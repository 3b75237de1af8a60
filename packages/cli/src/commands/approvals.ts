// `posture approvals list|show|approve|deny`: the approvals desk on the command line, over the
// SQLite store the gateway writes. What an approver sees is the call itself — tool, target and
// arguments as recorded — with every invisible or control character spelled out, never a summary.
import { groupMembership } from '@posture/core';
import type { ApprovalQueue, ApprovalRequest, ApprovalStatus } from '@posture/storage';
import type { Command } from 'commander';
import { CliError, type Io } from '../io.js';
import type { Register } from '../io.js';
import { readPolicy } from '../policy.js';

const DEFAULT_DB = '.posture/posture.db';
const DEFAULT_POLICY = 'posture.yaml';
const STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'consumed'];

/** Exit code for a refusal (not an approver, self-approval, not pending…): the command ran, the answer is no. */
const REFUSED = 1;

// What a terminal would not show as itself: controls, format characters (zero-width, bidi
// overrides and isolates, tags), private-use, unassigned and surrogate code points, line and
// paragraph separators, spaces other than U+0020, and the blank-looking letters and marks that
// hide text (Hangul fillers, variation selectors, the combining grapheme joiner).
const HIDDEN =
  // eslint-disable-next-line no-misleading-character-class
  /(?! )\p{Zs}|[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\u034F\u115F\u1160\u17B4\u17B5\u180E\u3164\uFE00-\uFE0F\uFFA0\u{E0100}-\u{E01EF}]/gu;

const codePoint = (char: string) => char.codePointAt(0)!.toString(16);

/** A value as text with backslashes doubled and hidden characters as `\u{…}`, so nothing is ambiguous. */
export function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(HIDDEN, (char) => `\\u{${codePoint(char)}}`);
}

/** Indented JSON with hidden characters as `\u{…}` (JSON already escapes backslashes and C0 controls). */
function escapeJson(value: unknown): string {
  return JSON.stringify(value, null, 2)
    .split('\n')
    .map((line) => line.replace(HIDDEN, (char) => `\\u{${codePoint(char)}}`))
    .join('\n');
}

/** The hidden characters in a text, as `U+200B`, each once. */
function hiddenCodePoints(text: string): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(HIDDEN)) {
    found.add(`U+${codePoint(match[0]).toUpperCase().padStart(4, '0')}`);
  }
  return [...found];
}

async function openQueue(db: string): Promise<ApprovalQueue> {
  // Loaded on use, so that the other commands neither load nor need the native SQLite module.
  const { openSqliteApprovalQueue } = await import('@posture/storage');
  try {
    // Never create a store here: a mistyped --db must not look like an empty queue.
    return openSqliteApprovalQueue(db, { create: false });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

async function withQueue<T>(db: string, use: (queue: ApprovalQueue) => Promise<T>): Promise<T> {
  const queue = await openQueue(db);
  try {
    return await use(queue);
  } finally {
    await queue.close();
  }
}

function listLine(request: ApprovalRequest): string {
  return [
    request.id,
    request.status.padEnd(8),
    escapeText(request.tool),
    `agent ${escapeText(request.agent)}`,
    `user ${escapeText(request.user)}`,
    `${request.status === 'pending' ? 'expires' : 'created'} ${request.status === 'pending' ? request.expires_at : request.created_at}`,
  ].join('  ');
}

/** The request in full, the action first: what would run, where, with which arguments. */
function showText(request: ApprovalRequest): string {
  const args = request.args === undefined ? '(not recorded)' : escapeJson(request.args);
  const rows: Array<[string, string]> = [
    ['status', request.status],
    ['tool', escapeText(request.tool)],
    ['target', request.target === undefined ? '(not recorded)' : escapeText(request.target)],
    ['arguments', args.replace(/\n/g, `\n${' '.repeat(14)}`)],
    ['args hash', escapeText(request.args_hash)],
    ['agent', escapeText(request.agent)],
    ['user', escapeText(request.user)],
    ['session', escapeText(request.session)],
    ['approvers', request.approvers.map(escapeText).join(', ')],
    ['step-up', request.step_up ? 'required to approve' : 'not required'],
    [
      'reasons',
      request.reasons.map((r) => `${escapeText(r.code)}: ${escapeText(r.message)}`).join('; ') || '-',
    ],
    ['rules', request.rules.map(escapeText).join(', ') || '-'],
    ['created', request.created_at],
    ['expires', request.expires_at],
  ];
  if (request.decided_by !== undefined) {
    rows.push(['decided', `by ${escapeText(request.decided_by)} at ${request.decided_at ?? '?'}`]);
  }
  if (request.step_up_proof) {
    rows.push([
      'step-up proof',
      `${escapeText(request.step_up_proof.method)} at ${request.step_up_proof.at}`,
    ]);
  }
  if (request.comment !== undefined) rows.push(['comment', escapeText(request.comment)]);
  if (request.consumed_at !== undefined) rows.push(['used', request.consumed_at]);
  let text = `approval request ${request.id}\n`;
  for (const [label, value] of rows) text += `  ${label.padEnd(12)}${value}\n`;
  const hidden = [
    ...new Set(
      [
        request.tool,
        request.target ?? '',
        JSON.stringify(request.args) ?? '',
        request.agent,
        request.user,
        request.session,
      ].flatMap(hiddenCodePoints),
    ),
  ];
  if (hidden.length > 0) {
    text += `warning: the call contains invisible or control characters, shown as \\u{…}: ${hidden.join(', ')}\n`;
  }
  return text;
}

interface DecideOptions {
  as: string;
  db: string;
  policy: string;
  stepUp?: string;
  comment?: string;
}

async function decide(io: Io, id: string, approve: boolean, options: DecideOptions): Promise<void> {
  const { policy } = await readPolicy(io, options.policy);
  // The store knows only the request's own agent; the policy knows every agent identity.
  if (Object.hasOwn(policy.agents, options.as)) {
    throw new CliError(
      `refused (self_approval): \`${options.as}\` is an agent identity and cannot decide requests`,
      REFUSED,
    );
  }
  const byGroups = [...(groupMembership(policy).get(options.as) ?? [])];
  const now = new Date();
  const result = await withQueue(options.db, (queue) =>
    queue.decide(
      id,
      {
        approve,
        by: options.as,
        byGroups,
        ...(options.stepUp !== undefined
          ? { stepUp: { method: options.stepUp, at: now.toISOString() } }
          : {}),
        ...(options.comment !== undefined ? { comment: options.comment } : {}),
      },
      now,
    ),
  );
  if (!result.ok) throw new CliError(`refused (${result.code}): ${result.message}`, REFUSED);
  const { request } = result;
  await recordDecision(options.db, request, now);
  io.stdout(
    `${request.status} \`${request.id}\` as \`${escapeText(options.as)}\`: ${escapeText(request.tool)} ` +
      `for agent \`${escapeText(request.agent)}\`, user \`${escapeText(request.user)}\`\n`,
  );
}

/**
 * The decision as evidence, in the audit log of the same store. The queue already holds the
 * decision; if the log cannot take it, say so loudly rather than report success.
 */
async function recordDecision(db: string, request: ApprovalRequest, at: Date): Promise<void> {
  const { approvalEvent, openSqliteAuditLog } = await import('@posture/storage');
  try {
    const log = await openSqliteAuditLog({ path: db });
    try {
      await log.append(approvalEvent(request, at));
    } finally {
      await log.close();
    }
  } catch (error) {
    throw new CliError(
      `the decision is in the queue, but the audit log \`${db}\` did not record it: ${(error as Error).message}`,
      REFUSED,
    );
  }
}

const dbOption = (command: Command) =>
  command.option('--db <path>', 'the SQLite store the gateway writes', DEFAULT_DB);

export const registerApprovals: Register = (program, io) => {
  const approvals = program
    .command('approvals')
    .description('list, inspect and decide the approval requests that tool calls are waiting on');

  dbOption(
    approvals
      .command('list')
      .description('list approval requests, newest first')
      .option('--status <status>', `only requests in this status (${STATUSES.join(', ')})`)
      .option('--json', 'print the requests as a JSON array'),
  ).action(async (options: { status?: string; json?: boolean; db: string }) => {
    const status = options.status;
    if (status !== undefined && !STATUSES.includes(status as ApprovalStatus)) {
      throw new CliError(`unknown status \`${escapeText(status)}\`; expected one of ${STATUSES.join(', ')}`);
    }
    const requests = await withQueue(options.db, (queue) =>
      queue.list(
        { ...(status !== undefined ? { status: status as ApprovalStatus } : {}), limit: 1000 },
        new Date(),
      ),
    );
    if (options.json) io.stdout(`${JSON.stringify(requests, null, 2)}\n`);
    else if (requests.length === 0) {
      io.stdout(`no approval requests${status !== undefined ? ` with status \`${status}\`` : ''}\n`);
    } else for (const request of requests) io.stdout(`${listLine(request)}\n`);
  });

  dbOption(
    approvals
      .command('show')
      .description('show one request in full: the tool, its target and the arguments as recorded')
      .argument('<id>', 'the request id')
      .option('--json', 'print the request as JSON'),
  ).action(async (id: string, options: { json?: boolean; db: string }) => {
    const request = await withQueue(options.db, (queue) => queue.get(id, new Date()));
    if (!request) throw new CliError(`no approval request \`${escapeText(id)}\``, REFUSED);
    io.stdout(options.json ? `${JSON.stringify(request, null, 2)}\n` : showText(request));
  });

  dbOption(
    approvals
      .command('approve')
      .description('approve a pending request, once; you must be among its approvers and not its requester')
      .argument('<id>', 'the request id')
      .requiredOption('--as <user>', 'the approving user (groups come from the policy)')
      .option(
        '--step-up <method>',
        'how you re-authenticated, when the request needs step-up (e.g. webauthn)',
      )
      .option('--comment <text>', 'why, for the audit trail')
      .option('--policy <file>', 'the policy the approvers and groups come from', DEFAULT_POLICY),
  ).action((id: string, options: DecideOptions) => decide(io, id, true, options));

  dbOption(
    approvals
      .command('deny')
      .description('deny a pending request, once; you must be among its approvers and not its requester')
      .argument('<id>', 'the request id')
      .requiredOption('--as <user>', 'the denying user (groups come from the policy)')
      .option('--comment <text>', 'why, for the audit trail')
      .option('--policy <file>', 'the policy the approvers and groups come from', DEFAULT_POLICY),
  ).action((id: string, options: DecideOptions) => decide(io, id, false, options));
};

// `posture start`: Posture on embedded defaults. SQLite under .posture/, the gateway in front of
// the bundled demo company's MCP server (examples/demo), the console, a console user to sign in
// with, and a ready agent token; it runs until Ctrl-C.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PolicyFile } from '@posture/core';
import { CliError, type Io, type Register } from '../io.js';
import { readPolicy } from '../policy.js';
import { DEFAULT_PORT, listenError, openEvidence, serveGateway, type EvidenceStores } from '../serve.js';

/** The repository (or installed package tree) root, where examples/ lives. */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DEMO_POLICY = relative(process.cwd(), join(ROOT, 'examples', 'demo', 'posture.yaml'));
export const DEFAULT_CONSOLE_PORT = 7400;
/** What `start` leaves for `posture demo agent` (and the user) beside the database. */
export const START_STATE_FILE = 'start.json';
const TOKEN_TTL_MS = 60 * 60 * 1000;

/** Written to `.posture/start.json` (mode 0600): where things run and how to reach them. */
export interface StartState {
  policy: string;
  gateway: string;
  audience: string;
  key: string;
  agent: string;
  user: string;
  token: string;
  token_expires_at: string;
  console?: string;
  console_user?: string;
  /** Kept only for the user `start` created itself, so that later starts can print it again. */
  console_password?: string;
}

interface StartOptions {
  policy: string;
  port: string;
  consolePort: string;
  db: string;
  agent?: string;
  user?: string;
  consoleUser?: string;
  console: boolean;
}

export const registerStart: Register = (program, io) => {
  program
    .command('start')
    .description(
      'run Posture on embedded defaults: SQLite under .posture/, the gateway in front of the demo company, the console',
    )
    .option('--policy <file>', 'policy file', DEMO_POLICY)
    .option('--port <number>', 'gateway port (0 picks a free one)', String(DEFAULT_PORT))
    .option('--console-port <number>', 'console port (0 picks a free one)', String(DEFAULT_CONSOLE_PORT))
    .option(
      '--db <file>',
      'SQLite file for evidence, approvals, inventory, console users and login sessions',
      join('.posture', 'posture.db'),
    )
    .option('--agent <name>', 'the agent the printed token is for (default: the first in the policy)')
    .option('--user <name>', 'the user it acts for (default: the first allowed to run it)')
    .option('--console-user <name>', 'the console user to create (default: the first tier approver)')
    .option('--no-console', 'run without the console')
    .action(async (options: StartOptions) => {
      const gatewayPort = port(options.port, '--port');
      const consolePort = port(options.consolePort, '--console-port');
      const { policy, compiled, text } = await readPolicy(io, options.policy);
      const runnable = resolveCommands(policy, options.policy);
      const agent = options.agent ?? Object.keys(policy.agents)[0];
      if (!agent || !compiled.agents.has(agent))
        throw new CliError(
          `the policy \`${options.policy}\` declares no agent${agent ? ` \`${agent}\`` : ''}`,
        );
      const runBy = compiled.agents.get(agent)!.runBy;
      const user = options.user ?? Object.keys(policy.users).find((name) => runBy.has(name));
      if (!user || !runBy.has(user))
        throw new CliError(
          `no user may run agent \`${agent}\`${user ? ` as \`${user}\`` : ''} (see its \`run_by\`)`,
        );
      const folder = dirname(options.db);
      const statePath = join(folder, START_STATE_FILE);
      const previous = readState(statePath);
      const log = (line: string) => io.stderr(`${line}\n`);

      const stores = await openEvidence({ db: options.db });
      const closers: Array<() => Promise<void>> = [() => stores.close()];
      const closeAll = async () => {
        for (const close of closers.reverse()) await close().catch(() => {});
      };
      let stopped: Promise<void> | undefined;
      try {
        const consoleRun = options.console
          ? await startConsole({
              io,
              stores,
              db: options.db,
              port: consolePort,
              policyPath: options.policy,
              policyText: text,
              userName: options.consoleUser ?? firstApprover(policy),
              previous,
              log,
            })
          : undefined;
        if (consoleRun) closers.push(consoleRun.close);
        const served = await serveGateway({
          policy: runnable,
          compiled,
          policyText: text,
          policySource: options.policy,
          stores,
          host: '127.0.0.1',
          port: gatewayPort,
          key: join(folder, 'token-key.json'),
          approvalWaitMs: 60_000,
          ...(consoleRun?.url ? { approvalUrl: `${consoleRun.url}/approvals/{id}` } : {}),
          log,
        });
        closers.push(served.close);
        const now = Date.now();
        const token = await served.authority.issue({ agent, user, ttlMs: TOKEN_TTL_MS, now });
        const state: StartState = {
          policy: options.policy,
          gateway: served.url!,
          audience: served.audience,
          key: join(folder, 'token-key.json'),
          agent,
          user,
          token,
          token_expires_at: new Date(now + TOKEN_TTL_MS).toISOString(),
          ...(consoleRun?.url ? { console: consoleRun.url } : {}),
          ...(consoleRun?.user ? { console_user: consoleRun.user } : {}),
          ...(consoleRun?.password ? { console_password: consoleRun.password } : {}),
        };
        writeFileSync(statePath, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
        chmodSync(statePath, 0o600);
        // Listening before the welcome is printed: whoever reads it may stop Posture at once (a
        // signal before the handlers are in place killed the process without closing anything).
        stopped = new Promise<void>((resolveStop) => {
          const stop = () => {
            io.stderr('posture start: stopping\n');
            void closeAll().then(resolveStop);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        printWelcome(io, state, { db: options.db, statePath });
      } catch (error) {
        await closeAll();
        throw error;
      }
      await stopped;
    });
};

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`\`${flag} ${value}\` is not a port`);
  return n;
}

function readState(path: string): Partial<StartState> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Partial<StartState>;
  } catch {
    return {};
  }
}

/**
 * The policy with each stdio server's relative file arguments made absolute, so that the bundled
 * demo runs from any folder: tried against the current folder, the policy's, then the root.
 */
function resolveCommands(policy: PolicyFile, policyPath: string): PolicyFile {
  const bases = [process.cwd(), dirname(resolve(policyPath)), ROOT];
  const servers = Object.fromEntries(
    Object.entries(policy.servers).map(([name, server]) => {
      if (!server.command) return [name, server];
      const [command, ...args] = server.command;
      const resolved = args.map((arg) => {
        if (isAbsolute(arg) || arg.startsWith('-') || !/\.[cm]?[jt]s$/.test(arg)) return arg;
        const found = bases.map((base) => resolve(base, arg)).find((path) => existsSync(path));
        return found ?? arg;
      });
      return [name, { ...server, command: [command!, ...resolved] }];
    }),
  );
  return { ...policy, servers } as PolicyFile;
}

/** The first user who approves tier-3 calls (named, or a member of a named group); else the first user. */
function firstApprover(policy: PolicyFile): string {
  const users = Object.entries(policy.users);
  for (const tier of ['3', '2', '1'] as const) {
    for (const approver of policy.tiers?.[tier]?.approval?.approvers ?? []) {
      if (!approver.startsWith('group:')) return approver;
      const group = approver.slice('group:'.length);
      const member = users.find(([, user]) => user.groups?.includes(group));
      if (member) return member[0];
    }
  }
  return users[0]?.[0] ?? 'admin';
}

interface ConsoleRun {
  url?: string;
  user?: string;
  /** Known when this start (or an earlier one) created the user. */
  password?: string;
  close(): Promise<void>;
}

async function startConsole(options: {
  io: Io;
  stores: EvidenceStores;
  db: string;
  port: number;
  policyPath: string;
  policyText: string;
  userName: string;
  previous: Partial<StartState>;
  log: (line: string) => void;
}): Promise<ConsoleRun> {
  const { openSqliteConsoleSessions, openSqliteConsoleUsers, serveConsole } =
    await import('@posture/console');
  const users = openSqliteConsoleUsers(options.db);
  // Logins beside the users, as `posture console --db` keeps them: a console restarted, or another
  // one over the same file, accepts them.
  const sessionStore = openSqliteConsoleSessions(options.db);
  let password: string | undefined;
  try {
    if (!(await users.get(options.userName))) {
      password = randomBytes(12).toString('base64url');
      await users.add({ name: options.userName, password, roles: ['viewer', 'approver', 'admin'] });
    } else if (options.previous.console_user === options.userName) {
      password = options.previous.console_password;
    }
    const running = await serveConsole({
      port: options.port,
      audit: options.stores.audit,
      approvals: options.stores.approvals,
      inventory: options.stores.inventory,
      exceptions: options.stores.exceptions,
      policy: { path: options.policyPath, text: options.policyText },
      users,
      sessionStore,
      revocations: options.stores.sessions,
      log: options.log,
    });
    return {
      url: running.url.replace(/\/$/, ''),
      user: options.userName,
      ...(password ? { password } : {}),
      close: async () => {
        await running.close();
        await sessionStore.close();
        await users.close();
      },
    };
  } catch (error) {
    await sessionStore.close();
    await users.close();
    const clean = listenError(error, '127.0.0.1', options.port, '--console-port');
    throw clean instanceof CliError ? clean : new CliError(`cannot start the console: ${clean.message}`);
  }
}

function printWelcome(io: Io, state: StartState, where: { db: string; statePath: string }): void {
  const lines = [`Posture is running: policy ${state.policy}, evidence in ${where.db}`, ''];
  if (state.console) {
    lines.push(`  Console  ${state.console}`);
    lines.push(
      state.console_password
        ? `           sign in as ${state.console_user}, password ${state.console_password}`
        : `           sign in as ${state.console_user} (the password set when it was created)`,
    );
    lines.push('           (deciding approvals needs a second factor: enrol one on the Account page)');
  } else {
    lines.push('  Console  not running (--no-console)');
  }
  lines.push(`  Gateway  ${state.gateway}`);
  lines.push(`  Agent    ${state.agent} acting for ${state.user}; a token for one MCP session, valid 1 h:`);
  lines.push(`           ${state.token}`);
  lines.push('');
  lines.push('Next, in another terminal:  npx posture demo agent');
  lines.push('  a scripted agent that meets every control: reads, a denied write, an approval, a loop,');
  lines.push('  a redaction, a rug pull and an anomaly; then look at the console.');
  lines.push(`(Saved in ${where.statePath}. Ctrl-C stops Posture.)`);
  io.stdout(`${lines.join('\n')}\n`);
}

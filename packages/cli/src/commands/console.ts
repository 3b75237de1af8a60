// `posture console`: the web console and its HTTP API over the gateway's evidence store, and
// `posture console user add|list|passwd|totp|remove`: the console's local users (scrypt password hashes,
// roles, an authenticator app enrolled from here on request). Users and login sessions live in the
// SQLite file the gateway writes (`--db`), or with `--postgres` in PostgreSQL beside the evidence,
// so that several consoles behind one address share both. TOTP secrets are sealed under the
// console key (`--console-key`, by default `console.key` beside `--db` or `.posture/console.key`).
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { CliError, readAll, type Io, type Register } from '../io.js';
import { openEvidence } from '../serve.js';

const DEFAULT_DB = join('.posture', 'posture.db');
const DEFAULT_POLICY = 'posture.yaml';
const DEFAULT_PORT = 7400;
const ROLES = ['viewer', 'approver', 'admin'] as const;
type Role = (typeof ROLES)[number];

interface ServeOptions {
  db: string;
  postgres?: string;
  consoleKey?: string;
  policy: string;
  host: string;
  port: string;
  origin?: string;
  mfaLogin?: boolean;
}

/** Where console users and sessions live: PostgreSQL when given, else the SQLite file. */
interface StoreOptions {
  db: string;
  postgres?: string;
  /** The console key that seals TOTP secrets (default beside --db, or .posture/console.key). */
  consoleKey?: string;
}

interface UserAddOptions extends StoreOptions {
  role: string[];
  passwordStdin?: boolean;
  totp?: boolean;
}

const where = (options: StoreOptions) => (options.postgres ? 'PostgreSQL' : options.db);

async function openUsers(options: StoreOptions, create: boolean) {
  const { openPostgresConsoleUsers, openSqliteConsoleUsers } = await import('@posture/console');
  const keyFile = options.consoleKey !== undefined ? { keyFile: options.consoleKey } : {};
  try {
    if (options.postgres)
      return await openPostgresConsoleUsers({ config: { connectionString: options.postgres }, ...keyFile });
    return openSqliteConsoleUsers(options.db, { create, ...keyFile });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

async function openSessions(options: StoreOptions) {
  const { openPostgresConsoleSessions, openSqliteConsoleSessions } = await import('@posture/console');
  try {
    if (options.postgres)
      return await openPostgresConsoleSessions({ config: { connectionString: options.postgres } });
    return openSqliteConsoleSessions(options.db);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

/** How many console users the SQLite file holds (0 when there is no file or no users table). */
async function sqliteUserCount(db: string): Promise<number> {
  const { countSqliteConsoleUsers } = await import('@posture/console');
  try {
    return countSqliteConsoleUsers(db);
  } catch {
    return 0; // not a database, or locked: nothing to say about it
  }
}

async function withUsers<T>(
  options: StoreOptions,
  create: boolean,
  use: (users: Awaited<ReturnType<typeof openUsers>>) => Promise<T>,
) {
  const users = await openUsers(options, create);
  try {
    return await use(users);
  } finally {
    await users.close();
  }
}

function roles(given: readonly string[]): Role[] {
  const all = given
    .flatMap((r) => r.split(','))
    .map((r) => r.trim())
    .filter((r) => r !== '');
  if (all.length === 0) throw new CliError(`give at least one \`--role\` (${ROLES.join(', ')})`);
  for (const role of all) {
    if (!(ROLES as readonly string[]).includes(role)) {
      throw new CliError(`\`${role}\` is not a role; expected ${ROLES.join(', ')}`);
    }
  }
  return [...new Set(all)] as Role[];
}

/** A password from standard input, or a generated one (to print once). */
async function newPassword(io: Io, fromStdin: boolean | undefined) {
  if (fromStdin) {
    const password = (await readAll(io.stdin())).replace(/\r?\n$/, '');
    if (password === '') throw new CliError('no password on standard input');
    return { password, generated: false };
  }
  return { password: randomBytes(15).toString('base64url'), generated: true };
}

async function serve(io: Io, options: ServeOptions): Promise<void> {
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`\`--port ${options.port}\` is not a port`);
  if (options.origin !== undefined) {
    try {
      new URL(options.origin);
    } catch {
      throw new CliError(`\`--origin ${options.origin}\` is not a URL such as https://posture.example.com`);
    }
  }
  let text: string;
  try {
    text = await io.readFile(options.policy);
  } catch (error) {
    throw new CliError(
      `cannot read policy \`${options.policy}\`: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const { serveConsole } = await import('@posture/console');
  const log = (line: string) => io.stderr(`${line}\n`);
  const stores = await openEvidence({
    db: options.db,
    ...(options.postgres ? { postgres: options.postgres } : {}),
  });
  const users = await openUsers(options, true).catch(async (error: unknown) => {
    await stores.close();
    throw error;
  });
  const sessionStore = await openSessions(options).catch(async (error: unknown) => {
    await users.close();
    await stores.close();
    throw error;
  });
  let served;
  try {
    served = await serveConsole({
      host: options.host,
      port,
      audit: stores.audit,
      approvals: stores.approvals,
      inventory: stores.inventory,
      exceptions: stores.exceptions,
      policy: { path: options.policy, text },
      users,
      sessionStore,
      // Revoking an agent's tokens here reaches every gateway that shares the evidence store.
      revocations: stores.sessions,
      log,
      ...(options.origin !== undefined ? { origin: options.origin } : {}),
      ...(options.mfaLogin ? { secondFactorAtLogin: true } : {}),
    });
  } catch (error) {
    await sessionStore.close();
    await users.close();
    await stores.close();
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'EADDRINUSE'
        ? `port ${port} on ${options.host} is in use; pass --port`
        : `cannot start the console: ${(error as Error).message}`,
    );
  }
  const loopback = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(options.host);
  if (!loopback && !(options.origin ?? '').startsWith('https://')) {
    log(
      '  warning: off loopback the session cookie is Secure, so browsers send it over https only: put TLS in front and pass --origin https://…',
    );
  }
  // Listening before the URL is printed: whoever reads it may stop the console at once.
  const stopped = new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      void (async () => {
        await served.close();
        await sessionStore.close();
        await users.close();
        await stores.close();
      })().then(resolve);
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  const count = await users.list().then(
    (all) => all.length,
    () => undefined, // the store answers 503 until it is back; the console still runs
  );
  log(
    `posture console: ${served.url} (evidence in ${stores.where}, users and sessions in ${where(options)})`,
  );
  if (count === 0) {
    // Never the URL itself: it may hold a password.
    const store = options.postgres ? '--postgres <url>' : `--db ${options.db}`;
    log(`  no console users yet: npx posture console user add <name> --role approver --totp ${store}`);
    // Before, users stayed in the SQLite file under --postgres too: say where they still are.
    const left = options.postgres ? await sqliteUserCount(options.db) : 0;
    if (left > 0) {
      log(
        `  ${options.db} still holds ${left} console user(s), which --postgres no longer reads: add them again with --postgres`,
      );
    }
  }
  await stopped;
}

const dbOption = (command: Command) =>
  command.option(
    '--db <file>',
    'the SQLite file the gateway writes (console users and login sessions live here unless --postgres)',
    DEFAULT_DB,
  );

export const registerConsole: Register = (program, io) => {
  const consoleCommand = dbOption(
    program
      .command('console')
      .description('serve the web console (login, approvals desk, audit explorer); manage its users'),
  )
    .option(
      '--postgres <url>',
      'keep evidence, approvals, the inventory, console users and login sessions in PostgreSQL instead (several consoles share them)',
    )
    .option(
      '--console-key <file>',
      'the key that seals TOTP secrets (default: console.key beside --db, or .posture/console.key with --postgres; every console on one store needs the same file)',
    )
    .option('--policy <file>', 'the policy (approvers, groups, catalog, validation)', DEFAULT_POLICY)
    .option('--host <address>', 'address to listen on (loopback unless you put TLS in front)', '127.0.0.1')
    .option('--port <number>', 'port (0 picks a free one)', String(DEFAULT_PORT))
    .option('--origin <url>', 'the URL browsers use, when behind a TLS proxy (https://posture.example.com)')
    .option('--mfa-login', 'approvers and admins with a second factor must present it at login too')
    .action((options: ServeOptions) => serve(io, options));

  const user = consoleCommand.command('user').description('manage console users (local accounts)');

  // `--db` and `--postgres` belong to `console` and reach these through optsWithGlobals, wherever
  // they are written.
  user
    .command('add')
    .description('add a console user; prints a generated password unless --password-stdin')
    .argument('<name>', "the user's name, as the policy names them (it decides their approver groups)")
    .option(
      '--role <role...>',
      `${ROLES.join(' | ')} (repeat or comma-separate; approvers need a second factor to decide)`,
      [],
    )
    .option('--password-stdin', 'read the password from standard input')
    .option('--totp', 'enrol an authenticator app now and print its otpauth:// URI')
    .action(async (name: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<UserAddOptions>();
      const given = roles(options.role);
      const { password, generated } = await newPassword(io, options.passwordStdin);
      await withUsers(options, true, async (users) => {
        try {
          await users.add({ name, password, roles: given });
        } catch (error) {
          throw new CliError((error as Error).message);
        }
        io.stdout(`added console user \`${name}\` (${given.join(', ')}) in ${where(options)}\n`);
        if (generated) io.stdout(`password: ${password}\n`);
        if (options.totp) {
          const { uri } = await users.enrolTotp(name, { confirmed: true });
          io.stdout(`authenticator app (scan or paste into it; keep it secret):\n${uri}\n`);
        } else if (given.includes('approver')) {
          io.stdout(
            'this approver must enrol a second factor (in the console, or add --totp) before deciding\n',
          );
        }
      });
    });

  user
    .command('list')
    .description('list console users, their roles and second factors')
    .option('--json', 'as JSON')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<StoreOptions & { json?: boolean }>();
      const all = await withUsers(options, false, (users) => users.list());
      if (options.json) {
        io.stdout(`${JSON.stringify(all, null, 2)}\n`);
        return;
      }
      if (all.length === 0) {
        io.stdout('no console users\n');
        return;
      }
      for (const u of all) {
        const factors = [
          ...(u.totp ? ['totp'] : []),
          ...(u.webauthn > 0 ? [`${u.webauthn} passkey(s)`] : []),
        ];
        io.stdout(
          `${u.name}  ${u.roles.join(',')}  ${factors.join(', ') || 'no second factor'}  since ${u.created_at}\n`,
        );
      }
    });

  user
    .command('passwd')
    .description("set a console user's password; prints a generated one unless --password-stdin")
    .argument('<name>')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<StoreOptions & { passwordStdin?: boolean }>();
      const { password, generated } = await newPassword(io, options.passwordStdin);
      await withUsers(options, false, async (users) => {
        try {
          await users.setPassword(name, password);
        } catch (error) {
          throw new CliError((error as Error).message, 1);
        }
      });
      io.stdout(`set the password of \`${name}\`${generated ? `: ${password}` : ''}\n`);
    });

  user
    .command('totp')
    .description('enrol a new authenticator app for a user (a lost phone): prints its otpauth:// URI')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<StoreOptions>();
      const uri = await withUsers(options, false, async (users) => {
        try {
          return (await users.enrolTotp(name, { confirmed: true })).uri;
        } catch (error) {
          throw new CliError((error as Error).message, 1);
        }
      });
      io.stdout(`the old authenticator no longer works; the new one (keep it secret):\n${uri}\n`);
    });

  user
    .command('remove')
    .description('remove a console user and their factors')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<StoreOptions>();
      const removed = await withUsers(options, false, (users) => users.remove(name));
      if (!removed) throw new CliError(`no console user \`${name}\``, 1);
      io.stdout(`removed console user \`${name}\`; their open sessions end at their next request\n`);
    });
};

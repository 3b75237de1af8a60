// `posture audit verify|export|tail|search|checkpoint`: the evidence on the command line, over the
// SQLite store the gateway writes (or a PostgreSQL one), and over exported copies. Verification
// names the first bad index; it exits 1 when the log does not verify.
import { createWriteStream, existsSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { dirname, join } from 'node:path';
import type { AuditFilter, AuditLog, StoredEvent, VerifyResult } from '@posture/storage';
// The ports alone: the rest of storage (and SQLite) loads only when a command needs it.
import { EVENT_KINDS, OUTCOMES } from '@posture/storage/ports';
import type { Verdict } from '@posture/core';
import { Option, type Command } from 'commander';
import { CliError, type Io, type Register } from '../io.js';
import { escapeText } from './approvals.js';

const DEFAULT_DB = '.posture/posture.db';
const FAILED = 1;
const DECISIONS: readonly Verdict[] = ['allow', 'deny', 'approve', 'confirm'];

interface StoreOptions {
  db: string;
  postgres?: string;
  keyFile?: string;
}

/**
 * Opens the log a command works on; never creates an SQLite store or a signer key. Reading and
 * verifying need no signer key (the log opens read-only); exporting and checkpointing sign, so
 * they need the log's key file.
 */
async function openLog(
  options: StoreOptions,
  access: { sign: boolean; verifierKey?: string },
): Promise<AuditLog> {
  // Loaded on use, so that the other commands neither load nor need the native SQLite module.
  const storage = await import('@posture/storage');
  const keyFile =
    options.keyFile ??
    (options.postgres !== undefined ? join('.posture', 'audit.key') : join(dirname(options.db), 'audit.key'));
  const mode = access.sign
    ? { keyFile }
    : {
        keyFile,
        readOnly: true,
        ...(access.verifierKey !== undefined ? { verifierKey: access.verifierKey } : {}),
      };
  try {
    if (options.postgres === undefined && !existsSync(options.db)) {
      throw new CliError(
        `no audit log at \`${options.db}\`: pass the gateway's store with --db or --postgres`,
      );
    }
    if (access.sign && !existsSync(keyFile)) {
      throw new CliError(`no signer key at \`${keyFile}\`: pass the log's key file with --key-file`);
    }
    if (options.postgres !== undefined) {
      return await storage.openPostgresAuditLog({
        ...mode,
        config: { connectionString: options.postgres, connectionTimeoutMillis: 5000 },
        retryForMs: 0,
      });
    }
    return await storage.openSqliteAuditLog({ ...mode, path: options.db });
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError((error as Error).message);
  }
}

async function withLog<T>(
  options: StoreOptions,
  access: { sign: boolean; verifierKey?: string },
  use: (log: AuditLog) => Promise<T>,
): Promise<T> {
  const log = await openLog(options, access);
  try {
    return await use(log);
  } finally {
    await log.close();
  }
}

const storeOptions = (command: Command) =>
  command
    .option('--db <path>', 'the SQLite store the gateway writes', DEFAULT_DB)
    .option('--postgres <url>', 'a PostgreSQL audit log instead (postgres://…)')
    .option(
      '--key-file <path>',
      "the log's signer key file (default: audit.key beside the SQLite store, or .posture/audit.key)",
    );

/** A verifier key given as text (`name+hash+key`) or as a file holding it. */
async function readKey(io: Io, value: string): Promise<string> {
  if (existsSync(value)) return (await io.readFile(value)).trim();
  if (/^[^\s+]+\+[0-9a-f]{8}\+\S+$/.test(value)) return value;
  throw new CliError(
    `\`${escapeText(value)}\` is neither a verifier key (\`name+hash+key\`) nor a file holding one`,
  );
}

/** Writes text to stdout, waiting when the pipe is full. */
async function write(io: Io, text: string): Promise<void> {
  if (!io.stdout(text)) await io.drain();
}

function report(
  io: Io,
  result: VerifyResult,
  what: string,
  json: boolean | undefined,
  setExit: (code: number) => void,
) {
  if (json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  if (result.ok) {
    if (!json) {
      io.stdout(
        `ok: ${what}: \`${result.checked}\` events verified, \`${result.covered}\` covered by a signed checkpoint\n`,
      );
    }
    return;
  }
  setExit(FAILED);
  if (json) return;
  const where =
    result.firstBadIndex !== undefined
      ? `first bad index ${result.firstBadIndex}`
      : result.badCheckpoint !== undefined
        ? `bad checkpoint ${result.badCheckpoint}`
        : 'no proof';
  io.stderr(`posture: ${what} does not verify: ${where}: ${result.reason ?? 'unknown reason'}\n`);
}

interface VerifyOptions extends StoreOptions {
  file?: string;
  checkpoint?: string[];
  key?: string[];
  json?: boolean;
}

async function verify(io: Io, options: VerifyOptions, setExit: (code: number) => void): Promise<void> {
  const storage = await import('@posture/storage');
  const keys = await Promise.all((options.key ?? []).map((key) => readKey(io, key)));
  const extra: string[] = [];
  for (const file of options.checkpoint ?? []) {
    if (!existsSync(file)) throw new CliError(`no checkpoint file \`${file}\``);
    extra.push(await io.readFile(file));
  }
  if (options.file !== undefined) {
    if (keys.length === 0) throw new CliError("verifying an export needs the log's verifier key: pass --key");
    if (!existsSync(options.file)) throw new CliError(`no export file \`${options.file}\``);
    const result = await storage.verifyExportFile(options.file, keys, { checkpoints: extra });
    report(io, result, `export \`${options.file}\``, options.json, setExit);
    return;
  }
  const where = options.postgres !== undefined ? 'audit log on postgresql' : `audit log \`${options.db}\``;
  const result = await withLog(options, { sign: false, verifierKey: keys[0] }, async (log) => {
    if (keys.length === 0 && log.verifierKey === '') {
      throw new CliError(`no verifier key for ${where}: pass --key (or keep audit.pub beside the key file)`);
    }
    const notes = [...(await log.checkpoints()).map((c) => c.note), ...extra];
    return storage.verifyLog(log.entries(), notes, keys.length > 0 ? keys : [log.verifierKey]);
  });
  report(io, result, where, options.json, setExit);
}

interface ExportCommandOptions extends StoreOptions {
  format: 'jsonl' | 'ocsf';
  out?: string;
}

async function exportLog(io: Io, options: ExportCommandOptions): Promise<void> {
  const storage = await import('@posture/storage');
  await withLog(options, { sign: true }, async (log) => {
    const lines: AsyncIterable<string> =
      options.format === 'jsonl'
        ? storage.exportAuditLog(log)
        : (async function* () {
            for await (const event of log.entries()) {
              const { leaf_hash: _leaf, ...stored } = event;
              yield JSON.stringify(storage.toOcsf(stored));
            }
          })();
    if (options.out === undefined) {
      for await (const line of lines) await write(io, `${line}\n`);
      return;
    }
    const out = options.out;
    try {
      // `wx`: an existing file is never overwritten.
      await pipeline(Readable.from(withNewlines(lines)), createWriteStream(out, { flags: 'wx' }));
    } catch (error) {
      // What this export created is removed: no half-written copy is left to be taken for whole.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') rmSync(out, { force: true });
      throw new CliError(`cannot write \`${out}\`: ${(error as Error).message}`);
    }
  });
}

async function* withNewlines(lines: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const line of lines) yield `${line}\n`;
}

const cell = (value: string | number | undefined) => (value === undefined ? '-' : escapeText(String(value)));

const COLUMNS: Array<[string, (e: StoredEvent) => string]> = [
  ['seq', (e) => String(e.seq)],
  ['time', (e) => cell(e.time)],
  ['kind', (e) => cell(e.kind)],
  ['agent', (e) => cell(e.actor?.agent)],
  ['user', (e) => cell(e.actor?.user)],
  ['tool', (e) => cell(e.tool)],
  ['decision', (e) => cell(e.decision)],
  ['outcome', (e) => cell(e.outcome)],
];

function table(events: StoredEvent[]): string {
  const rows = [COLUMNS.map(([header]) => header), ...events.map((e) => COLUMNS.map(([, get]) => get(e)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows
    .map(
      (row) =>
        `${row
          .map((text, i) => text.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}

/** One event per line: what `tail` prints. */
function line(e: StoredEvent): string {
  return `${COLUMNS.map(([, get]) => get(e)).join('  ')}\n`;
}

function choice<T extends string>(
  name: string,
  values: readonly T[],
  value: string | undefined,
): T | undefined {
  if (value === undefined) return undefined;
  if (!values.includes(value as T)) {
    throw new CliError(`unknown ${name} \`${escapeText(value)}\`; expected one of ${values.join(', ')}`);
  }
  return value as T;
}

function instant(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) {
    throw new CliError(
      `--${name} \`${escapeText(value)}\` is not a time (use ISO 8601, e.g. 2025-06-02T09:00:00Z)`,
    );
  }
  return time.toISOString();
}

function count(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new CliError(`--${name} must be a whole number, got \`${escapeText(value)}\``);
  return n;
}

interface SearchOptions extends StoreOptions {
  agent?: string;
  user?: string;
  tool?: string;
  decision?: string;
  outcome?: string;
  kind?: string;
  since?: string;
  until?: string;
  limit: string;
  json?: boolean;
}

function filterOf(options: SearchOptions): AuditFilter {
  const filter: AuditFilter = {
    agent: options.agent,
    user: options.user,
    tool: options.tool,
    decision: choice('decision', DECISIONS, options.decision),
    outcome: choice('outcome', OUTCOMES, options.outcome),
    kind: choice('kind', EVENT_KINDS, options.kind),
    since: instant('since', options.since),
    until: instant('until', options.until),
    limit: count('limit', options.limit),
  };
  for (const key of Object.keys(filter) as Array<keyof AuditFilter>)
    if (filter[key] === undefined) delete filter[key];
  return filter;
}

interface TailOptions extends StoreOptions {
  lines: string;
  follow?: boolean;
  interval: string;
  max?: string;
  json?: boolean;
}

async function tail(io: Io, options: TailOptions): Promise<void> {
  const lines = count('lines', options.lines)!;
  const interval = Math.max(10, count('interval', options.interval)!);
  const max = count('max', options.max) ?? Infinity;
  const print = (e: StoredEvent) => write(io, options.json ? `${JSON.stringify(e)}\n` : line(e));
  await withLog(options, { sign: false }, async (log) => {
    const size = await log.size();
    let printed = 0;
    let last = Math.max(0, size - lines) - 1;
    const show = async (events: StoredEvent[]) => {
      for (const event of events) {
        if (printed >= max) return;
        await print(event);
        printed++;
        last = event.seq;
      }
    };
    await show(await log.read(last + 1, size));
    if (!options.follow) return;
    while (printed < max) {
      const events = await log.search({ after: last, limit: 1000 });
      await show(events);
      if (events.length === 0) await new Promise((resolve) => setTimeout(resolve, interval));
    }
  });
}

export const registerAudit: Register = (program, io, setExit) => {
  const audit = program
    .command('audit')
    .description('verify, export, tail and search the tamper-evident audit log');

  storeOptions(
    audit
      .command('verify')
      .description('check the log (or an export) against its signed checkpoints; names the first bad index')
      .option(
        '--file <export.jsonl>',
        'verify an exported file (from `posture audit export`) instead of a store',
      )
      .option('--checkpoint <file...>', 'signed checkpoints kept apart from the log, to check it against too')
      .option('--key <key...>', "the log's verifier key, or a file holding it (required with --file)")
      .option('--json', 'print the result as JSON'),
  ).action((options: VerifyOptions) => verify(io, options, setExit));

  storeOptions(
    audit
      .command('export')
      .description('write every event and checkpoint, after signing one now, as JSON lines or OCSF')
      .addOption(
        new Option('--format <format>', 'jsonl (verifiable) or ocsf (API Activity 6003)')
          .choices(['jsonl', 'ocsf'])
          .default('jsonl'),
      )
      .option('--out <file>', 'write to a new file instead of stdout'),
  ).action((options: ExportCommandOptions) => exportLog(io, options));

  storeOptions(
    audit
      .command('tail')
      .description('print the latest events; with --follow, keep printing new ones')
      .option('-n, --lines <n>', 'how many of the latest events to print first', '10')
      .option('-f, --follow', 'keep printing events as they are appended')
      .option('--interval <ms>', 'how often --follow looks for new events', '500')
      .option('--max <n>', 'stop after this many events')
      .option('--json', 'print each event as one JSON line'),
  ).action((options: TailOptions) => tail(io, options));

  storeOptions(
    audit
      .command('search')
      .description('find events by agent, user, tool, decision, outcome, kind and time, in log order')
      .option('--agent <agent>')
      .option('--user <user>')
      .option('--tool <server/tool>')
      .option('--decision <decision>', DECISIONS.join(', '))
      .option('--outcome <outcome>', OUTCOMES.join(', '))
      .option('--kind <kind>', EVENT_KINDS.join(', '))
      .option('--since <time>', 'from this time on (ISO 8601, inclusive)')
      .option('--until <time>', 'up to this time (ISO 8601, inclusive)')
      .option('--limit <n>', 'at most this many events', '1000')
      .option('--json', 'print the events as a JSON array'),
  ).action(async (options: SearchOptions) => {
    const filter = filterOf(options);
    const events = await withLog(options, { sign: false }, (log) => log.search(filter));
    if (options.json) io.stdout(`${JSON.stringify(events, null, 2)}\n`);
    else if (events.length === 0) io.stdout('no matching events\n');
    else await write(io, table(events));
  });

  storeOptions(
    audit.command('checkpoint').description('sign a checkpoint of the log as it is now and print it'),
  ).action(async (options: StoreOptions) => {
    const checkpoint = await withLog(options, { sign: true }, (log) => log.checkpoint());
    io.stdout(checkpoint.note);
  });
};

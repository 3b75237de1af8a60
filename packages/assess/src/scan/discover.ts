// Finds agent configurations under a folder (and, on request, in the user's home) and parses each
// into one model: the servers clients launch or reach, Posture's policies, and the gateway's
// inventory and audit log. Files are hostile until parsed: a file that is too large, malformed,
// unreadable or part of a symlink loop becomes a problem in the result, and the walk goes on.
import {
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  closeSync,
  realpathSync,
  statSync,
  fstatSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Stats } from 'node:fs';
import { createDetector, loadPolicy, MAX_POLICY_BYTES, type McpTool } from '@posture/core';
import { openSqliteAuditLog, openSqliteInventory, verifyLog } from '@posture/storage';
import { parse as parseYaml } from 'yaml';
import type { ClientKind, ConfiguredServer, Discovery, ScanProblem } from './model.js';

/** Configuration files are written by people; anything larger is a mistake or an attack. */
export const MAX_CONFIG_BYTES = MAX_POLICY_BYTES;
export const MAX_DEPTH = 12;
/** Folder entries looked at before the walk stops. */
export const MAX_ENTRIES = 500_000;
/** `~/.claude.json` also keeps Claude Code's per-project history, often several megabytes. */
const MAX_CLAUDE_JSON_BYTES = 64 * 1_048_576;
const SKIP = new Set(['node_modules', '.git', 'dist', '.hg', '.svn']);

export interface DiscoverOptions {
  /** Also read the well-known configuration files in this home folder. */
  home?: string;
  maxDepth?: number;
  maxBytes?: number;
  maxEntries?: number;
}

type Kind = ClientKind | 'database';

/** What a file is by its name and parent folders, or undefined when it is nothing we read. */
export function kindOf(path: string): Kind | undefined {
  const name = basename(path);
  const parent = basename(dirname(path));
  const grand = basename(dirname(dirname(path)));
  if (name === 'claude_desktop_config.json') return 'claude-desktop';
  if (name === '.mcp.json' || name === '.claude.json') return 'claude-code';
  if (name === 'mcp.json' && parent === '.cursor') return 'cursor';
  if (name === 'mcp.json' && (parent === '.vscode' || (parent === 'User' && grand === 'Code')))
    return 'vscode';
  if (name === 'settings.json' && (parent === '.vscode' || (parent === 'User' && grand === 'Code')))
    return 'vscode';
  if (name === 'mcp_config.json' && parent === 'windsurf') return 'windsurf';
  if ((name === 'config.json' || name === 'config.yaml') && parent === '.continue') return 'continue';
  // Continue's newer layout: one block file per server under .continue/mcpServers/.
  if (/\.(?:ya?ml|json)$/.test(name) && parent === 'mcpServers' && grand === '.continue') return 'continue';
  if (name === 'posture.yaml' || name === 'posture.yml') return 'posture';
  if (name === 'posture.db' && parent === '.posture') return 'database';
  return undefined;
}

/** The well-known places of client configurations in a home folder (macOS, Linux, Windows). */
export function homeCandidates(home: string): string[] {
  const appData = [
    join(home, 'Library', 'Application Support'),
    join(home, '.config'),
    join(home, 'AppData', 'Roaming'),
  ];
  return [
    join(home, '.claude.json'),
    join(home, '.cursor', 'mcp.json'),
    join(home, '.codeium', 'windsurf', 'mcp_config.json'),
    join(home, '.continue', 'config.json'),
    join(home, '.continue', 'config.yaml'),
    ...appData.flatMap((base) => [
      join(base, 'Claude', 'claude_desktop_config.json'),
      join(base, 'Code', 'User', 'settings.json'),
      join(base, 'Code', 'User', 'mcp.json'),
    ]),
  ];
}

export async function discover(root: string, options: DiscoverOptions = {}): Promise<Discovery> {
  const result: Discovery = {
    root,
    files: [],
    servers: [],
    policies: [],
    databases: [],
    tools: [],
    problems: [],
    modes: {},
  };
  const found: string[] = [];
  walk(root, 0, {
    ancestors: new Set(),
    visited: new Set(),
    found,
    problems: result.problems,
    maxDepth: options.maxDepth ?? MAX_DEPTH,
    budget: options.maxEntries ?? MAX_ENTRIES,
  });
  if (options.home !== undefined) {
    for (const path of homeCandidates(options.home)) {
      try {
        if (statSync(path).isFile() && !found.includes(path)) found.push(path);
      } catch {
        // Absent: the client is not installed.
      }
    }
  }
  for (const file of found) {
    const kind = kindOf(file);
    if (kind === undefined) continue;
    result.files.push(file);
    if (kind === 'database') {
      await readDatabase(file, result);
      continue;
    }
    const max =
      options.maxBytes ?? (basename(file) === '.claude.json' ? MAX_CLAUDE_JSON_BYTES : MAX_CONFIG_BYTES);
    const text = readCapped(file, max, result.problems);
    if (text === undefined) continue;
    try {
      result.modes[file] = statSync(file).mode & 0o777;
    } catch {
      // Raced away: the mode check simply has nothing to say.
    }
    if (kind === 'posture') readPolicy(file, text, result);
    else readClient(file, kind, text, result);
  }
  return result;
}

interface Walk {
  /** Real paths of the folders on the way down: meeting one again is a loop. */
  ancestors: Set<string>;
  /** Real paths of every folder read: one reached again by another link is not read twice. */
  visited: Set<string>;
  found: string[];
  problems: ScanProblem[];
  maxDepth: number;
  /** Entries left before the walk stops (a home folder can hold millions). */
  budget: number;
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code ?? String(error);

function walk(dir: string, depth: number, state: Walk): void {
  const { problems } = state;
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (error) {
    const code = errorCode(error);
    problems.push(
      code === 'ELOOP'
        ? { file: dir, code: 'file.symlink_loop', message: `\`${dir}\` is a symbolic link loop` }
        : { file: dir, code: 'file.unreadable', message: `cannot read \`${dir}\`: ${code}` },
    );
    return;
  }
  if (state.ancestors.has(real)) {
    problems.push({
      file: dir,
      code: 'file.symlink_loop',
      message: `\`${dir}\` links back to \`${real}\`, not followed`,
    });
    return;
  }
  if (state.visited.has(real)) return;
  if (depth > state.maxDepth) {
    problems.push({
      file: dir,
      code: 'walk.depth',
      message: `\`${dir}\` is deeper than ${state.maxDepth} folders, not read`,
    });
    return;
  }
  state.visited.add(real);
  state.ancestors.add(real);
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (error) {
    problems.push({
      file: dir,
      code: 'file.unreadable',
      message: `cannot list \`${dir}\`: ${errorCode(error)}`,
    });
    state.ancestors.delete(real);
    return;
  }
  for (const name of entries) {
    if (SKIP.has(name)) continue;
    if (--state.budget < 0) {
      if (state.budget === -1) {
        problems.push({
          file: dir,
          code: 'walk.limit',
          message: `stopped after the entry limit at \`${dir}\`; scan a smaller folder`,
        });
      }
      break;
    }
    const path = join(dir, name);
    const kind = kindOf(path);
    let target: Stats;
    try {
      const link = lstatSync(path);
      target = link.isSymbolicLink() ? statSync(path) : link;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ELOOP')
        problems.push({
          file: path,
          code: 'file.symlink_loop',
          message: `\`${path}\` is a symbolic link loop`,
        });
      else if (kind !== undefined)
        problems.push({ file: path, code: 'file.unreadable', message: `cannot read \`${path}\`: ${code}` });
      continue;
    }
    if (target.isDirectory()) walk(path, depth + 1, state);
    else if (kind !== undefined && target.isFile()) state.found.push(path);
    // A FIFO or device under a configuration's name would block or never end: not opened.
    else if (kind !== undefined)
      problems.push({ file: path, code: 'file.unreadable', message: `\`${path}\` is not a regular file` });
  }
  state.ancestors.delete(real);
}

/** Reads at most `max` bytes; a longer file is a problem, not a read. */
function readCapped(file: string, max: number, problems: ScanProblem[]): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    problems.push({
      file,
      code: 'file.unreadable',
      message: `cannot read \`${file}\`: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    });
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size > max) {
      problems.push({
        file,
        code: 'file.too_large',
        message: `\`${file}\` is ${size} bytes; the limit is ${max}`,
      });
      return undefined;
    }
    const buffer = Buffer.alloc(size + 1);
    const read = readSync(fd, buffer, 0, size + 1, 0);
    if (read > max) {
      problems.push({
        file,
        code: 'file.too_large',
        message: `\`${file}\` grew past ${max} bytes while read`,
      });
      return undefined;
    }
    return buffer.subarray(0, read).toString('utf8');
  } catch (error) {
    problems.push({
      file,
      code: 'file.unreadable',
      message: `cannot read \`${file}\`: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    });
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) if (typeof item === 'string') out[key] = item;
  return out;
}

function toServer(
  name: string,
  client: ClientKind,
  file: string,
  value: unknown,
): ConfiguredServer | undefined {
  if (!isRecord(value)) return undefined;
  const command = typeof value.command === 'string' ? value.command : undefined;
  const args = Array.isArray(value.args) ? value.args.filter((a): a is string => typeof a === 'string') : [];
  const urlValue = value.url ?? value.serverUrl;
  const url = typeof urlValue === 'string' ? urlValue : undefined;
  if (command === undefined && url === undefined) return undefined;
  return {
    name,
    client,
    file,
    ...(command !== undefined ? { command } : {}),
    args,
    env: strings(value.env),
    ...(url !== undefined ? { url } : {}),
    headers: strings(value.headers),
  };
}

/** `{ name: server }` maps, or Continue's `[{ name, ... }]` lists. */
function serversOf(value: unknown, client: ClientKind, file: string): ConfiguredServer[] {
  const out: ConfiguredServer[] = [];
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      const name = isRecord(item) && typeof item.name === 'string' ? item.name : `server-${i + 1}`;
      const server = toServer(
        name,
        client,
        file,
        isRecord(item) && isRecord(item.transport) ? { ...item, ...item.transport } : item,
      );
      if (server) out.push(server);
    });
  } else if (isRecord(value)) {
    for (const [name, item] of Object.entries(value)) {
      const server = toServer(name, client, file, item);
      if (server) out.push(server);
    }
  }
  return out;
}

/**
 * JSON with comments and trailing commas, as VS Code and Cursor accept in settings and mcp.json:
 * plain JSON first; else the same text with comments and trailing commas blanked out, strings
 * kept as they are. An error names the position in the original text.
 */
export function parseJsonc(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    try {
      return JSON.parse(blankTrailingCommas(blankComments(text)));
    } catch {
      throw error;
    }
  }
}

/** Calls `other` for each run of text outside JSON strings; strings are kept. */
function outsideStrings(text: string, other: (part: string) => string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const quote = text.indexOf('"', i);
    const stop = quote === -1 ? text.length : quote;
    out += other(text.slice(i, stop));
    if (quote === -1) break;
    let j = quote + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    out += text.slice(quote, j + 1);
    i = j + 1;
  }
  return out;
}

function blankComments(text: string): string {
  // A comment may hold a quote, so comments are found first, with strings skipped by hand.
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '/' && (text[i + 1] === '/' || text[i + 1] === '*')) {
      const line = text[i + 1] === '/';
      const end = line ? text.indexOf('\n', i) : text.indexOf('*/', i + 2);
      const stop = end === -1 ? text.length : line ? end : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

function blankTrailingCommas(text: string): string {
  return outsideStrings(text, (part) => part.replace(/,(\s*)(?=[}\]])/g, ' $1'));
}

function readClient(file: string, client: ClientKind, text: string, result: Discovery): void {
  let doc: unknown;
  try {
    doc = /\.ya?ml$/.test(file) ? parseYaml(text, { maxAliasCount: 100 }) : parseJsonc(text);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    result.problems.push({
      file,
      code: 'file.malformed',
      message: `\`${file}\` is not valid ${/\.ya?ml$/.test(file) ? 'YAML' : 'JSON'}: ${message}`,
    });
    return;
  }
  if (!isRecord(doc)) {
    result.problems.push({ file, code: 'file.malformed', message: `\`${file}\` does not hold an object` });
    return;
  }
  const lists: unknown[] = [];
  if (client === 'vscode') {
    lists.push(doc.servers, doc['mcp.servers'], isRecord(doc.mcp) ? doc.mcp.servers : undefined);
  } else if (client === 'continue') {
    lists.push(
      doc.mcpServers,
      isRecord(doc.experimental) ? doc.experimental.modelContextProtocolServers : undefined,
    );
  } else {
    lists.push(doc.mcpServers);
    if (client === 'claude-code' && isRecord(doc.projects)) {
      for (const project of Object.values(doc.projects))
        if (isRecord(project)) lists.push(project.mcpServers);
    }
  }
  for (const list of lists) result.servers.push(...serversOf(list, client, file));
}

function readPolicy(file: string, text: string, result: Discovery): void {
  const loaded = loadPolicy(text, file);
  result.policies.push({
    file,
    ...(loaded.policy ? { policy: loaded.policy } : {}),
    problems: loaded.problems,
  });
  if (!loaded.policy) return;
  for (const [name, server] of Object.entries(loaded.policy.servers)) {
    const [command, ...args] = server.command ?? [];
    result.servers.push({
      name,
      client: 'posture',
      file,
      ...(command !== undefined ? { command } : {}),
      args,
      env: server.env ?? {},
      ...(server.url !== undefined ? { url: server.url } : {}),
      headers: {},
    });
    for (const [tool, override] of Object.entries(server.tools ?? {})) {
      const mcp: McpTool = { name: tool };
      if (override.description !== undefined) mcp.description = override.description;
      if (override.annotations !== undefined) mcp.annotations = override.annotations;
      result.tools.push({ server: name, tool: mcp, source: 'policy', file });
    }
  }
}

async function readDatabase(file: string, result: Discovery): Promise<void> {
  const database: Discovery['databases'][number] = { file, tools: [], agents: [] };
  try {
    const inventory = openSqliteInventory(file, { create: false });
    try {
      database.tools = await inventory.tools();
      database.agents = await inventory.agents();
    } finally {
      await inventory.close();
    }
  } catch (error) {
    result.problems.push({
      file,
      code: 'file.unreadable',
      message: `cannot read the inventory in \`${file}\`: ${(error as Error).message}`,
    });
  }
  try {
    const log = await openSqliteAuditLog({ path: file, readOnly: true });
    try {
      if ((await log.size()) === 0) return finishDatabase(database, file, result);
      const notes = (await log.checkpoints()).map((c) => c.note);
      const verifierKey = log.verifierKey !== '';
      const verified = verifierKey
        ? await verifyLog(log.entries(), notes, [log.verifierKey])
        : { ok: false, checked: 0, covered: 0, reason: 'no verifier key (audit.pub) beside the database' };
      database.audit = { ...verified, verifierKey, unredacted: await unredactedIn(log) };
    } finally {
      await log.close();
    }
  } catch {
    // No audit log in this file: the evidence checks say so.
  }
  finishDatabase(database, file, result);
}

/** Secrets and personal data stored as they are in the log's events (at most the last 100,000). */
async function unredactedIn(log: Awaited<ReturnType<typeof openSqliteAuditLog>>) {
  const detector = createDetector();
  const counts = { secrets: 0, pii: 0, events: 0 };
  const size = await log.size();
  for await (const event of log.entries(Math.max(0, size - 100_000))) {
    const findings = detector.scanValue({
      args: event.args,
      detail: event.detail,
      reasons: event.reasons?.map((r) => r.message),
    });
    let found = false;
    for (const finding of findings) {
      if (finding.family === 'secrets') counts.secrets++;
      else if (finding.family === 'pii') counts.pii++;
      else continue;
      found = true;
    }
    if (found) counts.events++;
  }
  return counts;
}

function finishDatabase(database: Discovery['databases'][number], file: string, result: Discovery): void {
  for (const tool of database.tools) {
    const definition = tool.definition as unknown as McpTool;
    result.tools.push({
      server: tool.server,
      tool: { ...definition, name: tool.name },
      source: 'inventory',
      file,
    });
  }
  result.databases.push(database);
}

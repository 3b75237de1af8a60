import {
  isMap,
  isScalar,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import type { z } from 'zod';
import type { McpTool } from '../types.js';
import { closest, hasInvisible, isConfusable, invisibleCodePoints } from '../text.js';
import { PolicyFile } from './schema.js';
import { checkPolicy, type Finding } from './check.js';
import type { Problem, ProblemCode } from './problems.js';

/** Policy files are configuration written by people; anything larger is a mistake or an attack. */
export const MAX_POLICY_BYTES = 1_048_576;

export interface LoadOptions {
  /** Tools discovered from upstream servers (`tools/list`), by server name. */
  discovered?: Record<string, McpTool[]>;
}

export interface LoadResult {
  /** The parsed policy, present when the file is well-formed (it may still have check errors). */
  policy?: PolicyFile;
  /** Every problem, errors and warnings, in file order. */
  problems: Problem[];
}

/** Parses, validates and cross-checks a policy file's text. Never throws for bad input. */
export function loadPolicy(text: string, file: string, options: LoadOptions = {}): LoadResult {
  const at = (code: ProblemCode, message: string, line = 1, column = 1, hint?: string): LoadResult => ({
    problems: [{ code, severity: 'error', message, path: [], file, line, column, ...(hint ? { hint } : {}) }],
  });
  const bytes = utf8Length(text);
  if (bytes > MAX_POLICY_BYTES) {
    return at('file.too_large', `the policy file is ${bytes} bytes; the limit is ${MAX_POLICY_BYTES}`);
  }
  if (text.trim() === '')
    return at('file.empty', 'the policy file is empty', 1, 1, 'start with `version: 1`');

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  const locate = locator(doc, lineCounter);
  const problems: Problem[] = [];
  for (const error of doc.errors) {
    const pos = lineCounter.linePos(error.pos[0]);
    const duplicate = error.code === 'DUPLICATE_KEY';
    problems.push({
      code: duplicate ? 'yaml.duplicate_key' : 'yaml.syntax',
      severity: 'error',
      message: firstLine(error.message),
      path: [],
      file,
      line: pos.line,
      column: pos.col,
      ...(duplicate ? { hint: 'each name may appear once; merge the two entries' } : {}),
    });
  }
  // `__proto__` would vanish into the object's prototype when converted: refuse it outright.
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === '__proto__') {
        const pos = lineCounter.linePos((pair.key as YamlNode).range?.[0] ?? 0);
        problems.push({
          code: 'name.invalid',
          severity: 'error',
          message: 'the key `__proto__` is not allowed',
          path: [],
          file,
          line: pos.line,
          column: pos.col,
        });
      }
    },
  });
  if (problems.length > 0) return { problems: capped(problems) };

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (error) {
    return at('yaml.alias', `the file expands too far through aliases: ${String((error as Error).message)}`);
  }

  const parsed = PolicyFile.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(...issueProblems(issue, data, file, locate));
    return { problems: capped(sortProblems(problems)) };
  }
  for (const finding of checkPolicy(parsed.data, options)) {
    problems.push(toProblem(finding, file, locate));
  }
  return { policy: parsed.data, problems: capped(sortProblems(problems)) };
}

type Locate = (path: readonly (string | number)[], onKey?: boolean) => { line: number; column: number };

function locator(doc: Document, lineCounter: LineCounter): Locate {
  return (path, onKey = false) => {
    // Walk down as far as the document goes; a missing key points at its parent.
    let node: unknown = doc.contents;
    let keyNode: YamlNode | undefined;
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => isScalar(item.key) && String(item.key.value) === String(segment),
        );
        if (!pair) break;
        keyNode = pair.key as YamlNode;
        node = pair.value;
      } else if (node && typeof node === 'object' && 'items' in node && typeof segment === 'number') {
        const next = (node as { items: unknown[] }).items[segment];
        if (next === undefined) break;
        keyNode = undefined;
        node = next;
      } else break;
    }
    const target = (onKey ? keyNode : undefined) ?? (node as YamlNode | undefined);
    const offset = target?.range?.[0] ?? 0;
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
}

function toProblem(finding: Finding, file: string, locate: Locate): Problem {
  const pos = locate(finding.path, finding.onKey);
  return {
    code: finding.code,
    severity: finding.severity,
    message: finding.message,
    path: finding.path,
    file,
    line: pos.line,
    column: pos.column,
    ...(finding.hint ? { hint: finding.hint } : {}),
  };
}

function issueProblems(issue: z.core.$ZodIssue, data: unknown, file: string, locate: Locate): Problem[] {
  const path = issue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
  const where = path.length > 0 ? `\`${path.join('.')}\`` : 'the file';
  const make = (code: ProblemCode, message: string, at = path, onKey = false, hint?: string): Problem =>
    toProblem({ code, severity: 'error', message, path: at, onKey, ...(hint ? { hint } : {}) }, file, locate);

  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const known = knownKeys(data, path);
        const suggestion = closest(key, known);
        const hint = suggestion
          ? `did you mean \`${suggestion}\`?`
          : known.length > 0
            ? `known keys here: ${known.map((k) => `\`${k}\``).join(', ')}`
            : undefined;
        return make('schema.unknown_key', `unknown key \`${key}\` in ${where}`, [...path, key], true, hint);
      });
    case 'invalid_key': {
      const name = String(path[path.length - 1]);
      if (hasInvisible(name)) {
        return [
          make(
            'name.invisible',
            `name \`${escapeName(name)}\` contains invisible characters (${invisibleCodePoints(name).join(', ')})`,
            path,
            true,
            'names are ASCII letters, digits, `_`, `.` and `-`',
          ),
        ];
      }
      if (isConfusable(name)) {
        return [
          make(
            'name.confusable',
            `name \`${escapeName(name)}\` mixes in characters that look like ASCII letters`,
            path,
            true,
            'retype the name in plain ASCII',
          ),
        ];
      }
      return [
        make(
          'name.invalid',
          `name \`${escapeName(name)}\` is not a valid name`,
          path,
          true,
          'names are 1–128 ASCII letters, digits, `_`, `.` and `-`, starting with a letter or digit',
        ),
      ];
    }
    case 'invalid_type': {
      if (issue.input === undefined) return [make('schema.required', `${where} is required`)];
      return [
        make('schema.type', `${where} must be ${article(issue.expected)}, not ${describe(issue.input)}`),
      ];
    }
    case 'invalid_union':
      return [make('schema.value', `${where} ${lower(issue.message)}`)];
    default: {
      const value = issue.input;
      if (typeof value === 'string' && (hasInvisible(value) || isConfusable(value))) {
        const code = hasInvisible(value) ? 'name.invisible' : 'name.confusable';
        return [make(code, `${where}: \`${escapeName(value)}\` contains invisible or look-alike characters`)];
      }
      return [make('schema.value', `${where} ${lower(issue.message)}`)];
    }
  }
}

/** Keys a strict object at this path accepts: those the policy schema declares there. */
function knownKeys(_data: unknown, path: (string | number)[]): string[] {
  let schema: unknown = PolicyFile;
  for (const segment of path) {
    schema = unwrap(schema);
    const def = (schema as { def?: Record<string, unknown> }).def;
    if (!def) return [];
    if (def.type === 'object') schema = (def.shape as Record<string, unknown>)[String(segment)];
    else if (def.type === 'record') schema = def.valueType;
    else if (def.type === 'array') schema = def.element;
    else return [];
  }
  schema = unwrap(schema);
  const def = (schema as { def?: Record<string, unknown> } | undefined)?.def;
  return def?.type === 'object' ? Object.keys(def.shape as Record<string, unknown>) : [];
}

function unwrap(schema: unknown): unknown {
  let current = schema as { def?: Record<string, unknown> } | undefined;
  for (let i = 0; i < 10 && current?.def; i++) {
    const def = current.def;
    if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable')
      current = def.innerType as never;
    else if (def.type === 'pipe') current = def.in as never;
    else break;
  }
  return current;
}

/** A hostile file can produce a problem per byte; a person reads the first few. */
const MAX_PROBLEMS = 50;

function capped(problems: Problem[]): Problem[] {
  if (problems.length <= MAX_PROBLEMS) return problems;
  const last = problems[MAX_PROBLEMS - 1]!;
  return [
    ...problems.slice(0, MAX_PROBLEMS - 1),
    { ...last, message: `${last.message} (and ${problems.length - MAX_PROBLEMS} more problems not shown)` },
  ];
}

function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

function firstLine(text: string): string {
  return lower(
    text
      .split('\n')[0]!
      .replace(/\s+at line \d+, column \d+:?$/, '')
      .replace(/\.$/, ''),
  );
}

function lower(text: string): string {
  const trimmed = text.replace(/\.$/, '');
  return trimmed.charAt(0).toLowerCase() + trimmed.slice(1);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string \`${escapeName(value.slice(0, 40))}\``;
  return `\`${String(value)}\``;
}

/** Shows invisible and non-ASCII characters as escapes so a reader sees what is there. */
export function escapeName(name: string): string {
  let out = '';
  for (const char of name) {
    const code = char.codePointAt(0)!;
    out += code < 0x20 || code > 0x7e ? `\\u{${code.toString(16)}}` : char;
  }
  return out;
}

/**
 * Where a rule id (`agents.support-bot.grants[2].when.amount`) stands in the policy text. Names
 * may contain dots, so each step takes the longest key of the mapping that fits.
 */
export function locateRule(text: string, rule: string): { line: number; column: number } | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false });
  const path: (string | number)[] = [];
  let node: unknown = doc.contents;
  let rest = rule;
  while (rest !== '') {
    const index = /^\[(\d+)\]/.exec(rest);
    if (index && node && typeof node === 'object' && 'items' in node && !isMap(node)) {
      path.push(Number(index[1]));
      node = (node as { items: unknown[] }).items[Number(index[1])];
      rest = rest.slice(index[0].length).replace(/^\./, '');
      continue;
    }
    if (!isMap(node)) break;
    const keys = node.items
      .map((item) => (isScalar(item.key) ? String(item.key.value) : ''))
      .filter(
        (key) => key !== '' && (rest === key || rest.startsWith(`${key}.`) || rest.startsWith(`${key}[`)),
      )
      .sort((a, b) => b.length - a.length);
    const key = keys[0];
    if (key === undefined) {
      // A grant or flow named by its `id`: find the list item carrying it.
      const named = /^([^.[]+)/.exec(rest)?.[1];
      if (named === undefined) break;
      path.push(named);
      break;
    }
    path.push(key);
    node = node.items.find((item) => isScalar(item.key) && String(item.key.value) === key)?.value;
    rest = rest.slice(key.length).replace(/^\./, '');
    if (
      node &&
      typeof node === 'object' &&
      'items' in node &&
      !isMap(node) &&
      rest !== '' &&
      !rest.startsWith('[')
    ) {
      const id = /^([^.[]+)/.exec(rest)![1]!;
      const items = (node as { items: unknown[] }).items;
      const position = items.findIndex((item) => isMap(item) && item.get('id') === id);
      if (position < 0) break;
      path.push(position);
      node = items[position];
      rest = rest.slice(id.length).replace(/^\./, '');
    }
  }
  if (path.length === 0) return undefined;
  return locator(doc, lineCounter)(path, true);
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

// docs/policy-reference.md, generated from the policy file's JSON Schema (the zod schema in
// @posture/core, with its `.describe()` texts), so the reference cannot drift from what
// `posture check` accepts.
import { policyJsonSchema } from '@posture/core';

type JsonSchema = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  propertyNames?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  default?: unknown;
  description?: string;
  pattern?: string;
  format?: string;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
};

/** One documented key of the policy file. */
export interface PolicyField {
  /** Dotted path, `<name>` for map keys and `[]` for list items: `agents.<agent>.grants[].access`. */
  path: string;
  type: string;
  required: boolean;
  default?: string;
  allowed: string;
  description: string;
}

// The identifier and string formats the schema uses, by regular expression, in words.
const PATTERNS: Record<string, { type: string; allowed: string }> = {
  '^(\\d+)(ms|s|m|h|d)$': { type: 'duration', allowed: '`500ms`, `30s`, `15m`, `2h`, `1d`' },
  '^(\\d+)\\/(\\d*)(ms|s|m|h|d)$': {
    type: 'rate',
    allowed: '`N/unit` or `N/<n><unit>`: `60/m`, `1000/h`, `100/10m`',
  },
  '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$': {
    type: 'name',
    allowed: 'ASCII `A-Z a-z 0-9 _ . -`, 1–128, not starting with `_ . -`',
  },
  '^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$': {
    type: 'user name',
    allowed: 'ASCII `A-Z a-z 0-9 _ . @ + -`, 1–128',
  },
  '^(group:)?[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$': {
    type: 'principal',
    allowed: 'a user name or `group:<name>`',
  },
  '^[A-Za-z0-9_.*?-]{1,128}\\/[A-Za-z0-9_.*?-]{1,128}$': {
    type: 'tool glob',
    allowed: '`<server>/<tool>` with `*` (any run) and `?` (one character): `tickets/*`, `*/get_*`',
  },
  '^[a-z][a-z0-9_-]{0,63}$': {
    type: 'class name',
    allowed: 'lowercase `a-z 0-9 _ -`, 1–64: `pii`, `untrusted`',
  },
};

// What a map's keys are called in paths, by the map's own key.
const KEY_NAMES: Record<string, string> = {
  users: 'user',
  groups: 'group',
  agents: 'agent',
  servers: 'server',
  tools: 'tool',
  when: 'argument',
  env: 'variable',
  patterns: 'pattern',
  classes: 'class',
  classifications: 'classification',
};

const code = (text: string) => `\`${text}\``;

/** Defaults and constants as one would write them in YAML flow style. */
function yamlFlow(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(yamlFlow).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    return entries.length === 0 ? '{}' : `{ ${entries.map(([k, v]) => `${k}: ${yamlFlow(v)}`).join(', ')} }`;
  }
  return typeof value === 'string' ? value : String(value);
}

function bounds(node: JsonSchema): string[] {
  const parts: string[] = [];
  const range = (low: number | undefined, high: number | undefined, what: string) => {
    if (low !== undefined && high !== undefined) parts.push(`${low}–${high}${what}`);
    else if (low !== undefined) parts.push(`at least ${low}${what}`);
    else if (high !== undefined) parts.push(`at most ${high}${what}`);
  };
  range(node.minimum, node.maximum, '');
  if (node.exclusiveMinimum !== undefined) parts.push(`over ${node.exclusiveMinimum}`);
  if (node.exclusiveMaximum !== undefined) parts.push(`under ${node.exclusiveMaximum}`);
  range(node.minLength, node.maxLength, ' characters');
  if (node.minItems === 1 && node.maxItems === undefined) parts.push('at least one');
  else range(node.minItems, node.maxItems, ' items');
  return parts;
}

const isRecord = (node: JsonSchema) =>
  node.type === 'object' && node.properties === undefined && node.propertyNames !== undefined;
const isOpenObject = (node: JsonSchema) =>
  node.type === 'object' &&
  node.properties === undefined &&
  (node.additionalProperties === undefined ||
    (typeof node.additionalProperties === 'object' && Object.keys(node.additionalProperties).length === 0));

/** A short type, and the allowed values in words, of one schema node. */
function describeType(node: JsonSchema, key: string): { type: string; allowed: string[] } {
  if (node.const !== undefined) return { type: typeof node.const, allowed: [code(yamlFlow(node.const))] };
  if (node.enum) return { type: 'string', allowed: [node.enum.map((v) => code(String(v))).join(' \\| ')] };
  if (node.anyOf) {
    if (node.anyOf.every((branch) => branch.const !== undefined)) {
      const consts = node.anyOf.map((branch) => branch.const);
      return {
        type: [...new Set(consts.map((c) => typeof c))].join(' or '),
        allowed: [consts.map((c) => code(yamlFlow(c))).join(' \\| ')],
      };
    }
    const branches = node.anyOf.map((branch) => describeType(branch, key));
    if (
      node.anyOf.some((b) => b.type === 'object' && b.properties === undefined && b.propertyNames) &&
      node.anyOf.some((b) => b.type === 'boolean')
    ) {
      return { type: 'JSON Schema', allowed: ['a JSON Schema object or boolean'] };
    }
    return {
      type: [...new Set(branches.map((b) => b.type))].join(' or '),
      allowed: branches.flatMap((b) => b.allowed),
    };
  }
  if (node.pattern !== undefined) {
    const known = PATTERNS[node.pattern];
    return known
      ? { type: known.type, allowed: [known.allowed, ...bounds(node)] }
      : { type: node.type ?? 'string', allowed: [`matches ${code(node.pattern)}`, ...bounds(node)] };
  }
  if (node.type === 'array' && node.items) {
    const item = describeType(node.items, key);
    return { type: `list of ${item.type}`, allowed: [...item.allowed, ...bounds(node)] };
  }
  if (isOpenObject(node)) return { type: 'object', allowed: ['any keys'] };
  if (isRecord(node)) {
    const keys =
      node.propertyNames?.pattern !== undefined ? describeType(node.propertyNames, key) : undefined;
    const value =
      typeof node.additionalProperties === 'object'
        ? describeType(node.additionalProperties, key)
        : undefined;
    return {
      type: `map of ${value?.type ?? 'any'}`,
      allowed: keys ? [`keys: ${keys.type}`] : [],
    };
  }
  if (node.format === 'uri') return { type: 'URL', allowed: [] };
  return { type: node.type === 'integer' ? 'integer' : (node.type ?? 'any'), allowed: bounds(node) };
}

function walk(node: JsonSchema, path: string, key: string, required: boolean, rows: PolicyField[]): void {
  const { type, allowed } = describeType(node, key);
  rows.push({
    path,
    type,
    required,
    ...(node.default !== undefined ? { default: yamlFlow(node.default) } : {}),
    allowed: allowed.join('; '),
    description: node.description ?? '',
  });
  walkChildren(node, path, key, rows);
}

function walkChildren(node: JsonSchema, path: string, key: string, rows: PolicyField[]): void {
  if (node.properties) {
    const required = new Set(node.required ?? []);
    for (const [name, child] of Object.entries(node.properties)) {
      walk(child, path === '' ? name : `${path}.${name}`, name, required.has(name), rows);
    }
  }
  if (node.anyOf) for (const branch of node.anyOf) walkChildren(branch, path, key, rows);
  if (node.type === 'array' && node.items) walkChildren(node.items, `${path}[]`, key, rows);
  if (isRecord(node) && typeof node.additionalProperties === 'object') {
    walkChildren(node.additionalProperties, `${path}.<${KEY_NAMES[key] ?? 'name'}>`, key, rows);
  }
}

/** Every key of posture.yaml, in schema order. */
export function policyFields(schema: Record<string, unknown> = policyJsonSchema()): PolicyField[] {
  const rows: PolicyField[] = [];
  walkChildren(schema as JsonSchema, '', '', rows);
  return rows;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n+/g, ' ');
const cellKeepingEscapes = (text: string) => text.replace(/(?<!\\)\|/g, '\\|').replace(/\n+/g, ' ');

/** docs/policy-reference.md. */
export function renderPolicyReference(schema: Record<string, unknown> = policyJsonSchema()): string {
  const fields = policyFields(schema);
  const sections = fields.filter((field) => !field.path.includes('.'));
  const lines = [
    '# Policy reference (`posture.yaml`)',
    '',
    '<!-- Generated from the policy schema (packages/core/src/policy/schema.ts) by `npm run docs`; do not edit. -->',
    '',
    'Every key of the policy file, from the schema `posture check` validates against (`npx posture schema`',
    'prints it as JSON Schema for editors). Every object is strict: an unknown key is an error. In paths,',
    '`<agent>`, `<server>`, `<tool>`… stand for names you choose, and `[]` for each item of a list.',
    'Durations are `500ms`, `30s`, `15m`, `2h`, `1d`; rates `60/m`, `1000/h`, `100/10m`.',
    '',
    '| section | type | description |',
    '| --- | --- | --- |',
    ...sections.map(
      (section) =>
        `| [${code(section.path)}](#${section.path}) | ${cell(section.type)} | ${cell(section.description)} |`,
    ),
  ];
  for (const section of sections) {
    const rows = fields.filter(
      (field) => field.path === section.path || field.path.startsWith(`${section.path}.`),
    );
    lines.push('', `## ${section.path}`, '');
    if (section.description)
      lines.push(`${section.description[0]!.toUpperCase()}${section.description.slice(1)}.`, '');
    lines.push(
      '| key | type | required | default | allowed values | description |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const row of rows) {
      lines.push(
        `| ${code(row.path)} | ${cell(row.type)} | ${row.required ? 'yes' : ''} | ${
          row.default !== undefined ? code(row.default) : ''
        } | ${cellKeepingEscapes(row.allowed)} | ${cell(row.description)} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

// Loads the YAML decision corpus (test/cases/*.yaml). The same corpus runs through the core, the
// SDK and the gateway, so this module only reads and checks the case files; it decides nothing.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

export type CaseVerdict = 'allow' | 'deny' | 'approve' | 'confirm';

/** A request as the corpus writes it: a `DecisionRequest`, plus labels the caller says the session has. */
export interface CaseRequest {
  agent: string;
  user?: string;
  tool: string;
  args?: Record<string, unknown>;
  session?: string;
  approval?: { id: string };
  confirmed?: boolean;
  labels?: string[];
}

export interface CaseExpect {
  decision: CaseVerdict;
  /** Exact set of rule ids (order-insensitive). */
  rules?: string[];
  /** Exact set of reason codes (order-insensitive). */
  codes?: string[];
  /** Reason codes that must be among the reasons (others may be present too). */
  codes_include?: string[];
  /** Each listed key must deep-equal; `null` means the key must be absent. */
  obligations?: Record<string, unknown>;
}

export interface Case {
  name: string;
  /** Milliseconds since the epoch: `at` from the file, or the previous request's time + 1000. */
  at: number;
  request: CaseRequest;
  expect: CaseExpect;
}

export interface CaseFile {
  /** File name, e.g. `01-identity.yaml`. */
  name: string;
  path: string;
  description: string;
  /** The inline policy as a YAML mapping, and as the posture.yaml text the runners load. */
  policy: Record<string, unknown>;
  policyText: string;
  requests: Case[];
}

export const FIRST_AT = 1_700_000_000_000;
export const CASES_DIR = fileURLToPath(new URL('.', import.meta.url));

const VERDICTS: readonly string[] = ['allow', 'deny', 'approve', 'confirm'];
const FILE_KEYS = ['description', 'policy', 'requests'];
const CASE_KEYS = ['name', 'at', 'request', 'expect'];
const REQUEST_KEYS = ['agent', 'user', 'tool', 'args', 'session', 'approval', 'confirmed', 'labels'];
const EXPECT_KEYS = ['decision', 'rules', 'codes', 'codes_include', 'obligations'];

class CaseFormatError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'CaseFormatError';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new CaseFormatError(where, `unknown key \`${key}\``);
  }
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new CaseFormatError(where, 'must be a string');
  return value;
}

function optionalStrings(value: unknown, where: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new CaseFormatError(where, 'must be a list of strings');
  }
  return value as string[];
}

function readRequest(value: unknown, where: string): CaseRequest {
  if (!isRecord(value)) throw new CaseFormatError(where, 'must be a mapping');
  onlyKeys(value, REQUEST_KEYS, where);
  const { agent, tool, args, approval, confirmed } = value;
  if (typeof agent !== 'string') throw new CaseFormatError(`${where}.agent`, 'must be a string');
  if (typeof tool !== 'string') throw new CaseFormatError(`${where}.tool`, 'must be a string');
  const request: CaseRequest = { agent, tool };
  const user = optionalString(value.user, `${where}.user`);
  if (user !== undefined) request.user = user;
  const session = optionalString(value.session, `${where}.session`);
  if (session !== undefined) request.session = session;
  if (args !== undefined) {
    if (!isRecord(args)) throw new CaseFormatError(`${where}.args`, 'must be a mapping');
    request.args = args;
  }
  if (approval !== undefined) {
    if (!isRecord(approval) || typeof approval.id !== 'string') {
      throw new CaseFormatError(`${where}.approval`, 'must be `{ id: <string> }`');
    }
    request.approval = { id: approval.id };
  }
  if (confirmed !== undefined) {
    if (typeof confirmed !== 'boolean') throw new CaseFormatError(`${where}.confirmed`, 'must be a boolean');
    request.confirmed = confirmed;
  }
  const labels = optionalStrings(value.labels, `${where}.labels`);
  if (labels !== undefined) request.labels = labels;
  return request;
}

function readExpect(value: unknown, where: string): CaseExpect {
  if (!isRecord(value)) throw new CaseFormatError(where, 'must be a mapping');
  onlyKeys(value, EXPECT_KEYS, where);
  const { decision, obligations } = value;
  if (typeof decision !== 'string' || !VERDICTS.includes(decision)) {
    throw new CaseFormatError(`${where}.decision`, `must be one of ${VERDICTS.join(', ')}`);
  }
  const expect: CaseExpect = { decision: decision as CaseVerdict };
  const rules = optionalStrings(value.rules, `${where}.rules`);
  if (rules !== undefined) expect.rules = rules;
  const codes = optionalStrings(value.codes, `${where}.codes`);
  if (codes !== undefined) expect.codes = codes;
  const codesInclude = optionalStrings(value.codes_include, `${where}.codes_include`);
  if (codesInclude !== undefined) expect.codes_include = codesInclude;
  if (obligations !== undefined) {
    if (!isRecord(obligations)) throw new CaseFormatError(`${where}.obligations`, 'must be a mapping');
    expect.obligations = obligations;
  }
  return expect;
}

/** Reads one case file; throws a `CaseFormatError` naming the file and the request on a bad shape. */
export function loadCaseFile(path: string): CaseFile {
  const name = path.split(/[\\/]/).pop() ?? path;
  const doc: unknown = parse(readFileSync(path, 'utf8'));
  if (!isRecord(doc)) throw new CaseFormatError(name, 'must be a mapping');
  onlyKeys(doc, FILE_KEYS, name);
  const { description, policy, requests } = doc;
  if (typeof description !== 'string') throw new CaseFormatError(`${name}: description`, 'must be a string');
  if (!isRecord(policy)) throw new CaseFormatError(`${name}: policy`, 'must be a mapping');
  if (!Array.isArray(requests) || requests.length === 0) {
    throw new CaseFormatError(`${name}: requests`, 'must be a non-empty list');
  }
  let previous: number | undefined;
  const cases = requests.map((item: unknown, index): Case => {
    const where = `${name}: requests[${index}]`;
    if (!isRecord(item)) throw new CaseFormatError(where, 'must be a mapping');
    onlyKeys(item, CASE_KEYS, where);
    if (typeof item.name !== 'string') throw new CaseFormatError(`${where}.name`, 'must be a string');
    let at: number;
    if (item.at === undefined) at = previous === undefined ? FIRST_AT : previous + 1000;
    else if (typeof item.at === 'number' && Number.isSafeInteger(item.at)) at = item.at;
    else throw new CaseFormatError(`${where}.at`, 'must be milliseconds since the epoch');
    if (previous !== undefined && at < previous) {
      throw new CaseFormatError(`${where}.at`, 'must not go back in time');
    }
    previous = at;
    return {
      name: item.name,
      at,
      request: readRequest(item.request, `${where}.request`),
      expect: readExpect(item.expect, `${where}.expect`),
    };
  });
  return { name, path, description, policy, policyText: stringify(policy), requests: cases };
}

/** Every `*.yaml` case file in `dir` (default: this folder), sorted by name. */
export function loadCases(dir: string = CASES_DIR): CaseFile[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => loadCaseFile(join(dir, file)));
}

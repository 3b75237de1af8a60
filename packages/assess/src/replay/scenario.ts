// Attack scenarios as data: a sequence of tool calls an attacker would make an agent perform
// (no model involved), with what the tools return, and the taxonomy ids the attack belongs to.
// Parsed with zod; a bad file gets file:line:column problems like `posture check`.
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { z } from 'zod';
import { durationMs } from '@posture/core';
import { KNOWN_IDS } from '../taxonomy.js';

const Duration = z.string().regex(/^(\d+)(ms|s|m|h|d)$/, 'must be a duration such as `500ms`, `30s` or `2m`');
const ClassName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be a data class name such as `untrusted`');
const ToolGlob = z
  .string()
  .regex(/^[A-Za-z0-9_.*?-]{1,128}\/[A-Za-z0-9_.*?-]{1,128}$/, 'must be a glob over `server/tool`');
const TaxonomyId = z.string().refine((id) => KNOWN_IDS.has(id), {
  error: 'is not a known OWASP LLM 2025, OWASP Agentic 2026 or MITRE ATLAS id',
});

export const Step = z
  .strictObject({
    /** What happens in this step, for the report. */
    note: z.string().max(2000).optional(),
    /** The tool the agent calls: globs over `server/tool`, tried in order against the policy's catalog. */
    tool: z.union([ToolGlob, z.array(ToolGlob).min(1).max(20)]).optional(),
    /** Also candidates: catalog tools with these properties (`external: true`, `access: admin`). */
    where: z
      .strictObject({
        access: z.enum(['read', 'write', 'admin']).optional(),
        tier: z.union([z.literal(1), z.literal(2), z.literal(3)]).optional(),
        external: z.boolean().optional(),
        irreversible: z.boolean().optional(),
      })
      .optional(),
    /** Arguments; `{i}` in a string is replaced by the repetition's number. */
    args: z.record(z.string(), z.unknown()).default({}),
    /** What the tool returns when it runs (scanned for secrets and personal data like any result). */
    result: z.unknown().optional(),
    /** The session carries these classes once this step happened (a step with a tool: once it ran). */
    labels: z.array(ClassName).optional(),
    /** The harmful step: the scenario is stopped when an attack step does not run. */
    attack: z.boolean().default(false),
    repeat: z.number().int().min(1).max(10_000).default(1),
    /** How far the clock moves before each call. */
    every: Duration.default('1s'),
    /**
     * A rug pull: the tool's server lists it once as the policy describes it (pinned on first
     * sight, as the gateway does), then again with this description, before the call.
     */
    redefined: z.string().max(100_000).optional(),
    /**
     * A shadowing tool: the call goes to a look-alike of each candidate on a server the policy
     * does not declare (`<server>-tools/<tool>`), as an agent tricked into using it would.
     */
    shadow: z.boolean().default(false),
  })
  .refine((step) => step.tool || step.where || step.labels, {
    error: 'a step calls a `tool` (or `where`) or adds `labels`',
  });
export type Step = z.infer<typeof Step>;

export const Scenario = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be a lowercase id such as `payment-injection`'),
  title: z.string().min(1).max(200),
  description: z.string().max(4000).optional(),
  taxonomy: z
    .strictObject({
      owasp_llm: z.array(TaxonomyId).default([]),
      asi: z.array(TaxonomyId).default([]),
      atlas: z.array(TaxonomyId).default([]),
    })
    .refine((t) => t.owasp_llm.length + t.asi.length + t.atlas.length > 0, {
      error: 'a scenario names at least one taxonomy id',
    }),
  /** `stopped`: the policy must stop it (`posture test` fails otherwise); `allowed`: a benign control. */
  expect: z.enum(['stopped', 'allowed']).default('stopped'),
  /** Run as this agent only; without it, as every agent of the policy. */
  agent: z.string().optional(),
  steps: z.array(Step).min(1).max(1000),
});
export type Scenario = z.infer<typeof Scenario>;

export const ScenarioFile = z.strictObject({ scenarios: z.array(Scenario).min(1) });

export interface ScenarioProblem {
  file: string;
  line: number;
  column: number;
  code: string;
  message: string;
}

export function formatScenarioProblem(p: ScenarioProblem): string {
  return `${p.file}:${p.line}:${p.column} error ${p.code}: ${p.message}`;
}

/** Scenario files are written by people; anything larger is a mistake. */
export const MAX_SCENARIO_BYTES = 1_048_576;

/** Parses one scenario file (`scenarios: [...]`). Never throws for bad input. */
export function parseScenarios(
  text: string,
  file: string,
): { scenarios: Scenario[]; problems: ScenarioProblem[] } {
  const fail = (code: string, message: string, line = 1, column = 1) => ({
    scenarios: [],
    problems: [{ file, line, column, code, message }],
  });
  if (text.length > MAX_SCENARIO_BYTES)
    return fail('file.too_large', `the file is over ${MAX_SCENARIO_BYTES} bytes`);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      scenarios: [],
      problems: doc.errors.map((error) => {
        const pos = lines.linePos(error.pos[0]);
        return {
          file,
          line: pos.line,
          column: pos.col,
          code: 'yaml.syntax',
          message: error.message.split('\n')[0]!,
        };
      }),
    };
  }
  const parsed = ScenarioFile.safeParse(doc.toJS({ maxAliasCount: 100 }));
  if (!parsed.success) {
    return {
      scenarios: [],
      problems: parsed.error.issues.map((issue) => {
        const { line, column } = locate(doc, lines, issue.path as (string | number)[]);
        const where = issue.path.length > 0 ? `\`${issue.path.join('.')}\` ` : '';
        return {
          file,
          line,
          column,
          code: `scenario.${issue.code}`,
          message: `${where}${lowerFirst(issue.message)}`,
        };
      }),
    };
  }
  const problems: ScenarioProblem[] = [];
  const seen = new Set<string>();
  parsed.data.scenarios.forEach((scenario, index) => {
    if (seen.has(scenario.id)) {
      const { line, column } = locate(doc, lines, ['scenarios', index, 'id']);
      problems.push({
        file,
        line,
        column,
        code: 'scenario.duplicate_id',
        message: `the id \`${scenario.id}\` is used twice`,
      });
    }
    seen.add(scenario.id);
  });
  return problems.length > 0 ? { scenarios: [], problems } : { scenarios: parsed.data.scenarios, problems };
}

/** Where a path points in the document: its node, or the nearest ancestor that exists. */
function locate(
  doc: Document,
  lines: LineCounter,
  path: (string | number)[],
): { line: number; column: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const pos = lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return { line: 1, column: 1 };
}

export const stepEveryMs = (step: Step): number => durationMs(step.every);

/** zod's messages start with a capital; ours do not (a leading acronym keeps its case). */
const lowerFirst = (text: string): string =>
  /^[A-Z][a-z]/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text;

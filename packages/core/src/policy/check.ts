import type { McpTool } from '../types.js';
import { closest, durationMs, globToRegExp, isLiteral, skeleton, toolMatcher } from '../text.js';
import { ACCESS_RANK, buildCatalog, type CatalogTool } from './catalog.js';
import { constraintCompiler } from './constraints.js';
import type { ProblemCode } from './problems.js';
import { PII_CLASSES, SECRET_CLASSES } from '../data/classes.js';
import { checkPattern } from '../data/patterns.js';
import type { PolicyFile } from './schema.js';

/** A problem before it is placed in the file: the loader adds line and column. */
export interface Finding {
  code: ProblemCode;
  severity: 'error' | 'warning';
  message: string;
  path: (string | number)[];
  /** Point at the key rather than its value. */
  onKey?: boolean;
  hint?: string;
}

/** Classes Posture knows without declaration; `secrets` is the detector family used by `redact`. */
export const BUILTIN_CLASSES = ['untrusted', 'pii', 'secret', 'secrets', 'internal', 'public', 'external'];

/** The longest lifetime a policy may give an agent's tokens (`agents.<agent>.token_ttl`). */
export const LONGEST_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
/** An agent's token lifetime when its policy entry names none. */
export const DEFAULT_TOKEN_TTL_MS = 60 * 60 * 1000;
/** Past a token's `exp`, how long a gateway still accepts it (its clock tolerance), and then some. */
export const REVOCATION_MARGIN_MS = 60_000;
/**
 * How long a revocation stays in force when the tokens' own expiry is unknown (every token of an
 * agent, a bare `jti`): past it, every token issued before it has expired, whatever lifetime the
 * policy allowed then or allows now, and the clock skew a gateway tolerates has passed too.
 */
export const LONGEST_REVOCATION_MS = LONGEST_TOKEN_TTL_MS + REVOCATION_MARGIN_MS;

/** Cross-checks a schema-valid policy against itself and its tool catalog. */
export function checkPolicy(
  policy: PolicyFile,
  options: { discovered?: Record<string, McpTool[]> } = {},
): Finding[] {
  const findings: Finding[] = [];
  const add = (finding: Finding) => findings.push(finding);
  const catalog = buildCatalog(policy, options.discovered);
  const groups = new Set([
    ...Object.keys(policy.groups),
    ...Object.values(policy.users).flatMap((user) => user.groups),
  ]);
  const isKnownPrincipal = (p: string) =>
    p.startsWith('group:') ? groups.has(p.slice(6)) : Object.hasOwn(policy.users, p);
  const principals = [...Object.keys(policy.users), ...[...groups].map((g) => `group:${g}`)];
  const unknownPrincipal = (principal: string, path: (string | number)[]): Finding => ({
    code: 'principal.unknown',
    severity: 'error',
    message: `\`${principal}\` is neither a declared user nor a declared group`,
    path,
    hint:
      hintFrom(principal, principals) ??
      (principal.startsWith('group:')
        ? 'declare the group under `groups:` or give a user that group'
        : 'declare the user under `users:`, or write `group:<name>` for a group'),
  });

  checkLookalikes(policy, add);

  for (const [group, config] of Object.entries(policy.groups)) {
    config.members.forEach((member, i) => {
      if (!isKnownPrincipal(member)) add(unknownPrincipal(member, ['groups', group, 'members', i]));
    });
  }
  checkGroupCycles(policy, add);

  for (const [tier, controls] of Object.entries(policy.tiers)) {
    controls?.approval?.approvers.forEach((approver, i) => {
      if (!isKnownPrincipal(approver)) {
        add({
          code: 'approver.unknown',
          severity: 'error',
          message: `approver \`${approver}\` is neither a declared user nor a declared group`,
          path: ['tiers', tier, 'approval', 'approvers', i],
          hint: hintFrom(approver, principals) ?? 'approvers are names under `users:` or `group:<name>`',
        });
      }
    });
  }

  const byServer = new Map<string, CatalogTool[]>();
  for (const tool of catalog.values())
    byServer.set(tool.server, [...(byServer.get(tool.server) ?? []), tool]);
  for (const server of Object.keys(policy.servers)) {
    if (!byServer.has(server)) {
      add({
        code: 'catalog.undeclared_tools',
        severity: 'warning',
        message: `server \`${server}\` declares no tools and none were discovered, so every call to it is denied`,
        path: ['servers', server],
        onKey: true,
        hint: 'list its tools under `tools:` (`posture classify` drafts them from a tools/list result)',
      });
    }
  }
  checkOverrides(catalog, add);

  const compileConstraint = constraintCompiler();
  let tier3WriteGranted = false;
  for (const [agentName, agent] of Object.entries(policy.agents)) {
    if (!Object.hasOwn(policy.users, agent.owner)) {
      add({
        code: 'principal.unknown',
        severity: 'error',
        message: `owner \`${agent.owner}\` of agent \`${agentName}\` is not a declared user`,
        path: ['agents', agentName, 'owner'],
      });
    }
    agent.run_by.forEach((p, i) => {
      if (!isKnownPrincipal(p)) add(unknownPrincipal(p, ['agents', agentName, 'run_by', i]));
    });
    if (agent.token_ttl !== undefined && durationMs(agent.token_ttl) > LONGEST_TOKEN_TTL_MS) {
      add({
        code: 'agent.token_ttl',
        severity: 'error',
        message: `agent \`${agentName}\` may not have tokens that live longer than 24h (\`${agent.token_ttl}\`)`,
        path: ['agents', agentName, 'token_ttl'],
        hint: 'a stolen token is good until it expires: keep agent tokens short-lived and issue new ones',
      });
    }
    agent.grants.forEach((grant, g) => {
      const grantPath = ['agents', agentName, 'grants', g];
      const matched: CatalogTool[] = [];
      grant.tools.forEach((glob, t) => {
        const [serverGlob, toolGlob] = glob.split('/') as [string, string];
        const servers = Object.keys(policy.servers).filter((s) => globToRegExp(serverGlob).test(s));
        if (servers.length === 0) {
          const literal = isLiteral(serverGlob);
          add({
            code: literal ? 'grant.unknown_server' : 'grant.never_matches',
            severity: literal ? 'error' : 'warning',
            message: literal
              ? `grant names server \`${serverGlob}\`, which is not in \`servers\``
              : `\`${glob}\` matches no server`,
            path: [...grantPath, 'tools', t],
            ...(literal ? { hint: hintFrom(serverGlob, Object.keys(policy.servers)) } : {}),
          });
          return;
        }
        const match = toolMatcher([glob]);
        const tools = [...catalog.values()].filter((tool) => match(tool.server, tool.name));
        matched.push(...tools);
        if (tools.length > 0) return;
        const known = servers.filter((s) => byServer.has(s));
        if (known.length === 0) return; // catalog.undeclared_tools already says why
        const literal = isLiteral(toolGlob);
        add({
          code: literal ? 'grant.unknown_tool' : 'grant.never_matches',
          severity: literal ? 'error' : 'warning',
          message: literal
            ? `grant names tool \`${glob}\`, which server \`${known.join('`, `')}\` does not have`
            : `\`${glob}\` matches no tool in the catalog`,
          path: [...grantPath, 'tools', t],
          ...(literal
            ? {
                hint: hintFrom(
                  toolGlob,
                  known.flatMap((s) => byServer.get(s)!.map((tool) => tool.name)),
                ),
              }
            : {}),
        });
      });

      if (grant.effect === 'allow' && matched.length > 0) {
        const covered = matched.filter((tool) => ACCESS_RANK[tool.access] <= ACCESS_RANK[grant.access]);
        if (covered.length === 0) {
          add({
            code: 'grant.access_below_tool',
            severity: 'warning',
            message: `grant gives \`${grant.access}\` access, but every tool it matches needs more (${describeAccess(matched)})`,
            path: [...grantPath, 'access'],
            hint: 'raise `access` or remove the grant',
          });
        }
        const denied = agent.grants.filter((other) => other.effect === 'deny' && !other.when);
        const isDenied = (tool: CatalogTool) =>
          denied.some((d) => toolMatcher(d.tools)(tool.server, tool.name));
        const tier3Writes = covered.filter(
          (tool) => tool.tier === 3 && tool.access !== 'read' && !isDenied(tool),
        );
        if (tier3Writes.length > 0) tier3WriteGranted = true;
        if (tier3Writes.length > 0 && !grant.when) {
          add({
            code: 'grant.unconstrained_tier3_write',
            severity: 'warning',
            message: `grant allows tier-3 ${tier3Writes.map((t) => `\`${t.key}\``).join(', ')} with any arguments`,
            path: grantPath,
            hint: 'add `when:` constraints on the arguments that carry the risk (amount, recipient, path…)',
          });
        }
      }

      for (const [arg, schema] of Object.entries(grant.when ?? {})) {
        const error = compileConstraint(schema).error;
        if (error) {
          add({
            code: 'constraint.invalid_schema',
            severity: 'error',
            message: `constraint on \`${arg}\` is not a valid JSON Schema: ${error}`,
            path: [...grantPath, 'when', arg],
          });
        }
        // Tools whose schema is known and lacks the argument can never pass this grant: an error
        // when that is every such tool the grant matches, a warning when only some.
        const known = matched.filter((tool) => isRecord(tool.inputSchema?.properties));
        const lacking = known.filter((tool) => !Object.hasOwn(tool.inputSchema!.properties as object, arg));
        if (lacking.length > 0) {
          const all = lacking.length === known.length;
          add({
            code: 'constraint.unknown_argument',
            severity: all ? 'error' : 'warning',
            message: `constraint on \`${arg}\`, which ${lacking
              .slice(0, 3)
              .map((t) => `\`${t.key}\``)
              .join(
                ', ',
              )}${lacking.length > 3 ? ' and others' : ''} do${lacking.length === 1 ? 'es' : ''} not declare, so the grant never allows ${all ? 'it' : 'those'}`,
            path: [...grantPath, 'when', arg],
            onKey: true,
            hint: hintFrom(arg, Object.keys(lacking[0]!.inputSchema!.properties as object)),
          });
        }
      }
    });
  }

  if (tier3WriteGranted && !policy.tiers[3]?.approval) {
    add({
      code: 'tier.no_approval',
      severity: 'warning',
      message: 'agents may call tier-3 tools for writing, but tier 3 requires no approval',
      path: policy.tiers[3] ? ['tiers', '3'] : [],
      hint: 'add `tiers: { 3: { approval: { approvers: [group:<approvers>], step_up: true } } }`',
    });
  }

  const retrieval = policy.data.retrieval;
  if (!retrieval) {
    for (const [server, config] of Object.entries(policy.servers)) {
      for (const [tool, override] of Object.entries(config.tools ?? {})) {
        if (!override.retrieval) continue;
        add({
          code: 'retrieval.no_readers',
          severity: 'warning',
          message: `\`${server}/${tool}\` returns labelled documents, but no \`data.retrieval\` says who may read them, so its results are withheld`,
          path: ['servers', server, 'tools', tool, 'retrieval'],
          hint: 'add `data.retrieval: { classifications: { internal: { readers: [group:<readers>] } }, default: internal }`',
        });
      }
    }
  }
  if (retrieval) {
    for (const [name, classification] of Object.entries(retrieval.classifications)) {
      classification.readers.forEach((reader, i) => {
        if (reader !== '*' && !isKnownPrincipal(reader)) {
          add(unknownPrincipal(reader, ['data', 'retrieval', 'classifications', name, 'readers', i]));
        }
      });
    }
    if (retrieval.default !== undefined && !Object.hasOwn(retrieval.classifications, retrieval.default)) {
      add({
        code: 'retrieval.unknown_default',
        severity: 'error',
        message: `default classification \`${retrieval.default}\` is not declared, so unlabelled documents are withheld`,
        path: ['data', 'retrieval', 'default'],
        hint:
          hintFrom(retrieval.default, Object.keys(retrieval.classifications)) ??
          'declare it under `classifications`',
      });
    }
  }

  checkClasses(policy, add);
  return findings;
}

function hintFrom(word: string, candidates: string[]): string | undefined {
  const suggestion = closest(word, candidates);
  return suggestion === undefined ? undefined : `did you mean \`${suggestion}\`?`;
}

function describeAccess(tools: CatalogTool[]): string {
  return tools
    .slice(0, 3)
    .map((t) => `\`${t.key}\` is ${t.access}`)
    .join(', ');
}

function checkLookalikes(policy: PolicyFile, add: (finding: Finding) => void): void {
  const kinds: Array<[string, string[], (name: string) => (string | number)[]]> = [
    ['agent', Object.keys(policy.agents), (n) => ['agents', n]],
    ['server', Object.keys(policy.servers), (n) => ['servers', n]],
    ['user', Object.keys(policy.users), (n) => ['users', n]],
  ];
  for (const [server, config] of Object.entries(policy.servers)) {
    kinds.push(['tool', Object.keys(config.tools ?? {}), (n) => ['servers', server, 'tools', n]]);
  }
  for (const [kind, names, pathOf] of kinds) {
    const seen = new Map<string, string>();
    for (const name of names) {
      const key = skeleton(name);
      const other = seen.get(key);
      if (other !== undefined && other !== name) {
        add({
          code: 'name.lookalike',
          severity: 'warning',
          message: `${kind} \`${name}\` looks like ${kind} \`${other}\``,
          path: pathOf(name),
          onKey: true,
          hint: 'look-alike names let one thing pass for another; rename one of them',
        });
      } else seen.set(key, name);
    }
  }
}

function checkGroupCycles(policy: PolicyFile, add: (finding: Finding) => void): void {
  const edges = new Map(
    Object.entries(policy.groups).map(([group, config]) => [
      group,
      config.members.filter((m) => m.startsWith('group:')).map((m) => m.slice(6)),
    ]),
  );
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const visit = (group: string, trail: string[]): void => {
    if (state.get(group) === 'done') return;
    if (state.get(group) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(group)), group];
      const key = [...cycle].sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        add({
          code: 'group.cycle',
          severity: 'error',
          message: `groups contain each other: ${cycle.map((g) => `\`${g}\``).join(' → ')}`,
          path: ['groups', group, 'members'],
        });
      }
      return;
    }
    state.set(group, 'visiting');
    for (const next of edges.get(group) ?? []) visit(next, [...trail, group]);
    state.set(group, 'done');
  };
  for (const group of edges.keys()) visit(group, []);
}

function checkOverrides(catalog: Map<string, CatalogTool>, add: (finding: Finding) => void): void {
  for (const tool of catalog.values()) {
    const inferred = tool.classification;
    const lowered =
      ACCESS_RANK[tool.access] < ACCESS_RANK[inferred.access] ||
      tool.tier < inferred.tier ||
      (inferred.irreversible && !tool.irreversible);
    if (!tool.declared || !lowered) continue;
    add({
      code: 'tool.classification_conflict',
      severity: 'warning',
      message: `\`${tool.key}\` is declared ${tool.access} tier ${tool.tier}${tool.irreversible ? ' irreversible' : ''}, but looks like ${inferred.access} tier ${inferred.tier}${inferred.irreversible ? ' irreversible' : ''} (${inferred.reasons.map((r) => r.code).join(', ')})`,
      path: ['servers', tool.server, 'tools', tool.name],
      onKey: true,
      hint: 'make sure the override is deliberate: it lowers the controls on this tool',
    });
  }
}

function checkClasses(policy: PolicyFile, add: (finding: Finding) => void): void {
  const known = new Set([...BUILTIN_CLASSES, ...Object.keys(policy.data.classes ?? {})]);
  // Rules and redaction may also name what detectors find: a class or a custom pattern.
  const detectable = new Set([
    ...known,
    ...SECRET_CLASSES,
    ...PII_CLASSES,
    ...Object.keys(policy.data.patterns ?? {}),
    ...Object.values(policy.data.patterns ?? {}).map((pattern) => pattern.class),
  ]);
  const check = (name: string, path: (string | number)[]) => {
    if (known.has(name)) return;
    add({
      code: 'flow.unknown_class',
      severity: 'warning',
      message: `data class \`${name}\` is neither built in nor declared under \`data.classes\``,
      path,
      hint: hintFrom(name, [...known]) ?? `built-in classes: ${BUILTIN_CLASSES.join(', ')}`,
    });
  };
  const checkDetectable = (name: string, path: (string | number)[]) => {
    if (detectable.has(name)) return;
    add({
      code: 'flow.unknown_class',
      severity: 'warning',
      message: `\`${name}\` is neither a data class nor something a detector finds, so it never matches`,
      path,
      hint: hintFrom(name, [...detectable]) ?? 'families: secrets, pii; or a class such as `aws_access_key`',
    });
  };
  policy.data.redact.forEach((name, i) => checkDetectable(name, ['data', 'redact', i]));
  policy.data.rules.forEach((rule, r) =>
    rule.block.forEach((name, i) => checkDetectable(name, ['data', 'rules', r, 'block', i])),
  );
  for (const [name, pattern] of Object.entries(policy.data.patterns ?? {})) {
    const verdict = checkPattern(pattern.pattern);
    if (!verdict.ok) {
      add({
        code: 'pattern.invalid',
        severity: 'error',
        message: `pattern \`${name}\` is refused: ${verdict.reason}`,
        path: ['data', 'patterns', name, 'pattern'],
        hint: 'patterns run on every argument and result: keep them linear (no nested or overlapping repetition)',
      });
    }
  }
  policy.data.flows.forEach((flow, f) =>
    flow.after.forEach((name, i) => check(name, ['data', 'flows', f, 'after', i])),
  );
  for (const [server, config] of Object.entries(policy.servers)) {
    for (const [tool, override] of Object.entries(config.tools ?? {})) {
      override.returns?.forEach((name, i) => check(name, ['servers', server, 'tools', tool, 'returns', i]));
      override.accepts?.forEach((name, i) => check(name, ['servers', server, 'tools', tool, 'accepts', i]));
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

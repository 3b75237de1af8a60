// The checks, as data and one function each. Ids are stable: reports, suppressions and CI
// pipelines name them, so a check is retired, never renumbered.
import { DEFAULT_TOKEN_TTL_MS, durationMs, skeleton } from '@posture/core';
import type { ConfiguredServer } from '../scan/model.js';
import {
  configuredTexts,
  containerRun,
  EXEC_PACKAGES,
  executesCode,
  HIDDEN_INSTRUCTIONS,
  invisibleCodePoints,
  isGateway,
  isLoopback,
  isPinned,
  isReference,
  jwtPayloads,
  program,
  runnerPackage,
  SECRET_NAME,
  serverPath,
} from './helpers.js';
import type { Check, CheckContext, Evidence, LoadedPolicy } from './types.js';

const at = (server: ConfiguredServer, message: string, suffix = ''): Evidence => ({
  file: server.file,
  path: serverPath(server) + suffix,
  message,
});

function eachServer(context: CheckContext, fn: (server: ConfiguredServer) => Evidence[]): Evidence[] {
  return context.discovery.servers.flatMap(fn);
}

function eachPolicy(context: CheckContext, fn: (loaded: LoadedPolicy) => Evidence[]): Evidence[] {
  return context.policies.flatMap(fn);
}

/**
 * The secret classes of one configured value: what the detector finds, else `named_secret` for a
 * literal under a secret-sounding name (`API_TOKEN`) that looks like one: no path, no flag value,
 * letters and digits. References (`${env:X}`) are not secrets.
 */
function secretClasses(c: CheckContext, key: string | undefined, text: string): string[] {
  if (isReference(text)) return [];
  const found = c.detector.scan(key !== undefined ? `${key}=${text}` : text);
  const classes = [...new Set(found.filter((f) => f.family === 'secrets').map((f) => f.class))];
  const value = text.trim();
  if (
    classes.length === 0 &&
    key !== undefined &&
    SECRET_NAME.test(key) &&
    value.length >= 8 &&
    !/\s/.test(value) &&
    !/^(?:[./~]|[A-Za-z]:[\\/]|https?:\/\/[^@]*$)/.test(value) &&
    /[0-9]/.test(value) &&
    /[A-Za-z]/.test(value)
  ) {
    classes.push('named_secret');
  }
  return classes;
}

function globMatch(glob: string, key: string): boolean {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${source}$`).test(key);
}

/** Users a principal list names, groups expanded through users' groups and group members. */
function expand(loaded: LoadedPolicy, principals: readonly string[]): Set<string> {
  const { policy } = loaded;
  const out = new Set<string>();
  const seen = new Set<string>();
  const visit = (principal: string) => {
    if (!principal.startsWith('group:')) {
      out.add(principal);
      return;
    }
    const group = principal.slice('group:'.length);
    if (seen.has(group)) return;
    seen.add(group);
    for (const [user, def] of Object.entries(policy.users)) if (def.groups.includes(group)) out.add(user);
    for (const member of policy.groups[group]?.members ?? []) visit(member);
  };
  principals.forEach(visit);
  return out;
}

/** Tools an agent can reach (some grant covers them): from the compiled plans. */
function reachable(loaded: LoadedPolicy, agent: string) {
  const plans = loaded.compiled?.agents.get(agent)?.plans;
  return plans ? [...plans.values()].filter((plan) => plan.fixed === undefined) : [];
}

function limitMissing(
  key: 'rate' | 'timeout' | 'loop' | 'max_calls',
  what: string,
): (context: CheckContext) => Evidence[] {
  return (context) =>
    eachPolicy(context, ({ file, policy }) =>
      Object.entries(policy.agents).flatMap(([name, agent]) => {
        const set =
          policy.limits.default?.[key] !== undefined ||
          agent.limits?.[key] !== undefined ||
          ((key === 'rate' || key === 'timeout') &&
            agent.grants.length > 0 &&
            agent.grants.every((g) => g[key] !== undefined));
        return set
          ? []
          : [
              {
                file,
                path: `agents.${name}`,
                message: `agent \`${name}\` has no ${what} (limits.default.${key} or agents.${name}.limits.${key})`,
              },
            ];
      }),
    );
}

const DIRECT_CLIENT = 'a client launches or reaches';

export const CHECKS: readonly Check[] = [
  // ——— tool-chain ———
  {
    id: 'PST-001',
    title: 'Server package is not pinned to a version',
    severity: 'high',
    pillar: 'tool-chain',
    owasp: ['LLM03:2025'],
    asi: ['ASI04'],
    atlas: ['AML.T0010.005', 'AML.T0109'],
    remediation:
      'Pin the exact version (`npx -y pkg@1.2.3`, `uvx pkg==1.2.3`) so a new release cannot change the tools unseen.',
    run: (c) =>
      eachServer(c, (s) => {
        const found = runnerPackage(s);
        return found && !isPinned(found.spec)
          ? [at(s, `\`${found.runner} ${found.spec}\` fetches whatever version is latest at launch`, '.args')]
          : [];
      }),
  },
  {
    id: 'PST-002',
    title: 'Container image is not pinned by digest',
    severity: 'medium',
    pillar: 'tool-chain',
    owasp: ['LLM03:2025'],
    asi: ['ASI04'],
    atlas: ['AML.T0010.005'],
    remediation: 'Run the image by digest (`image@sha256:…`); tags such as `latest` move.',
    run: (c) =>
      eachServer(c, (s) => {
        const run = containerRun(s);
        return run && !run.image.includes('@sha256:')
          ? [at(s, `image \`${run.image}\` is a movable tag, not a digest`, '.args')]
          : [];
      }),
  },
  {
    id: 'PST-003',
    title: 'Server is launched through a shell or a downloaded script',
    severity: 'medium',
    pillar: 'tool-chain',
    owasp: ['LLM03:2025'],
    asi: ['ASI04', 'ASI05'],
    atlas: ['AML.T0011.002'],
    remediation: 'Launch the server binary directly with its arguments; never `sh -c` or `curl … | sh`.',
    run: (c) =>
      eachServer(c, (s) => {
        const shell =
          ['sh', 'bash', 'zsh', 'cmd', 'powershell', 'pwsh'].includes(program(s)) &&
          s.args.some((a) => /^(?:-c|\/c|-command)$/i.test(a));
        const piped = s.args.some((a) => /\|\s*(?:sh|bash|zsh|iex)\b/.test(a));
        return shell || piped
          ? [
              at(
                s,
                `\`${program(s)}\` runs a command line${piped ? ' piping a download into a shell' : ''}`,
                '.command',
              ),
            ]
          : [];
      }),
  },
  {
    id: 'PST-004',
    title: 'Tool description carries hidden instructions',
    severity: 'critical',
    pillar: 'tool-chain',
    owasp: ['LLM01:2025'],
    asi: ['ASI01', 'ASI04'],
    atlas: ['AML.T0110', 'AML.T0051.001'],
    remediation:
      'Remove the server or override the description in posture.yaml; set `suspicious: block` so the gateway disables such tools until approved.',
    run: (c) =>
      c.tools.flatMap((t) => {
        const text = `${t.tool.title ?? ''}\n${t.tool.description ?? ''}`;
        const what = HIDDEN_INSTRUCTIONS.filter((h) => h.pattern.test(text)).map((h) => h.what);
        return what.length > 0
          ? [
              {
                file: t.file,
                path: `${t.server}/${t.tool.name}`,
                message: `the description of \`${t.server}/${t.tool.name}\` ${what.join('; ')}`,
              },
            ]
          : [];
      }),
  },
  {
    id: 'PST-005',
    title: 'Tool name or description hides invisible characters',
    severity: 'high',
    pillar: 'tool-chain',
    owasp: ['LLM01:2025'],
    asi: ['ASI01'],
    atlas: ['AML.T0068', 'AML.T0110'],
    remediation:
      'Refuse the tool, or override its description; invisible characters carry text the user never sees.',
    run: (c) =>
      c.tools.flatMap((t) => {
        const points = invisibleCodePoints(
          `${t.tool.name} ${t.tool.title ?? ''} ${t.tool.description ?? ''}`,
        );
        return points.length > 0
          ? [
              {
                file: t.file,
                path: `${t.server}/${t.tool.name}`,
                message: `\`${t.server}/${[...t.tool.name].filter((ch) => invisibleCodePoints(ch).length === 0).join('')}\` contains ${points.join(', ')}`,
              },
            ]
          : [];
      }),
  },
  {
    id: 'PST-006',
    title: 'Tool names collide across servers',
    severity: 'medium',
    pillar: 'tool-chain',
    owasp: ['LLM03:2025'],
    asi: ['ASI04'],
    atlas: ['AML.T0110'],
    remediation: 'Address tools as `server/tool` in grants and remove or rename the shadowing server.',
    run: (c) => {
      const byName = new Map<string, Map<string, string>>();
      for (const t of c.tools) {
        const key = skeleton(t.tool.name.toLowerCase());
        const servers = byName.get(key) ?? new Map<string, string>();
        if (!servers.has(t.server)) servers.set(t.server, t.file);
        byName.set(key, servers);
      }
      return [...byName.entries()]
        .filter(([, servers]) => servers.size > 1)
        .map(([name, servers]) => ({
          file: [...servers.values()][0]!,
          path: name,
          message: `a tool named like \`${name}\` is offered by ${[...servers.keys()].map((s) => `\`${s}\``).join(', ')}`,
        }));
    },
  },
  {
    id: 'PST-007',
    title: 'Tool definition changed since it was approved',
    severity: 'critical',
    pillar: 'tool-chain',
    owasp: ['LLM03:2025'],
    asi: ['ASI04'],
    atlas: ['AML.T0109'],
    remediation:
      'Compare the definitions (`posture inventory history`), then approve the new one or remove the server.',
    run: (c) =>
      c.discovery.databases.flatMap((db) =>
        db.tools
          .filter((t) => t.status === 'changed')
          .map((t) => ({
            file: db.file,
            path: `${t.server}/${t.name}`,
            message: `\`${t.server}/${t.name}\` now has definition ${t.hash.slice(0, 12)}, approved ${t.approved_hash?.slice(0, 12) ?? '?'}`,
          })),
      ),
  },
  {
    id: 'PST-008',
    title: 'Tool definition was never approved',
    severity: 'low',
    pillar: 'tool-chain',
    owasp: ['LLM03:2025'],
    asi: ['ASI04'],
    atlas: ['AML.T0010.005'],
    remediation: 'Review and approve the definition so a later change is detected as a change.',
    run: (c) =>
      c.discovery.databases.flatMap((db) =>
        db.tools
          .filter((t) => t.status === 'new')
          .map((t) => ({
            file: db.file,
            path: `${t.server}/${t.name}`,
            message: `\`${t.server}/${t.name}\` is in use without an approved definition`,
          })),
      ),
  },
  {
    id: 'PST-009',
    title: 'Remote server reached over plain HTTP',
    severity: 'medium',
    pillar: 'tool-chain',
    owasp: ['LLM02:2025'],
    asi: ['ASI04', 'ASI07'],
    atlas: ['AML.T0010.005'],
    remediation: 'Use `https://` for every server that is not on this machine.',
    run: (c) =>
      eachServer(c, (s) => {
        if (s.url === undefined) return [];
        let url: URL;
        try {
          url = new URL(s.url);
        } catch {
          return [at(s, 'the server URL does not parse', '.url')];
        }
        return url.protocol === 'http:' && !isLoopback(url)
          ? [at(s, `\`${url.host}\` is reached without TLS`, '.url')]
          : [];
      }),
  },
  {
    id: 'PST-010',
    title: 'Server is not in the Posture catalog',
    severity: 'medium',
    pillar: 'tool-chain',
    owasp: ['LLM03:2025'],
    asi: ['ASI04'],
    atlas: ['AML.T0010.005'],
    remediation:
      'Declare the server under `servers:` in posture.yaml and reach it through the gateway, or remove it.',
    run: (c) => {
      if (c.policies.length === 0) return [];
      const declared = new Set(c.policies.flatMap((p) => Object.keys(p.policy.servers)));
      return c.clientServers
        .filter((s) => !isGateway(s) && !declared.has(s.name))
        .map((s) => at(s, `\`${s.name}\` is configured in ${s.client} but unknown to posture.yaml`));
    },
  },
  {
    id: 'PST-011',
    title: 'Server could not be listed',
    severity: 'medium',
    pillar: 'tool-chain',
    owasp: ['LLM10:2025'],
    asi: ['ASI08'],
    atlas: ['AML.T0010.005'],
    remediation:
      'Fix or remove the server: one that hangs or crashes on start leaves the agent with unknown tools.',
    run: (c) =>
      c.discovery.problems
        .filter((p) => p.code === 'connect.failed')
        .map((p) => ({ file: p.file, message: p.message })),
  },
  // ——— identity ———
  {
    id: 'PST-020',
    title: 'Static secret in an agent configuration',
    severity: 'high',
    pillar: 'identity',
    owasp: ['LLM02:2025', 'LLM07:2025'],
    asi: ['ASI03'],
    atlas: ['AML.T0083', 'AML.T0055'],
    remediation:
      'Reference the secret (`${env:NAME}`, `${input:name}`) or use short-lived tokens from the gateway; rotate the exposed value.',
    run: (c) =>
      eachServer(c, (s) =>
        configuredTexts(s).flatMap(({ path, key, text }) => {
          const classes = secretClasses(c, key, text);
          return classes.length > 0
            ? [
                {
                  file: s.file,
                  path,
                  message: `\`${path}\` holds a literal ${classes.join(', ')} (value redacted)`,
                },
              ]
            : [];
        }),
      ),
  },
  {
    id: 'PST-021',
    title: 'Credentials embedded in a server URL',
    severity: 'high',
    pillar: 'identity',
    owasp: ['LLM02:2025'],
    asi: ['ASI03'],
    atlas: ['AML.T0083'],
    remediation:
      'Send credentials in a header that references a secret store, never in the URL (URLs are logged).',
    run: (c) =>
      eachServer(c, (s) => {
        if (s.url === undefined) return [];
        try {
          const url = new URL(s.url);
          const keys = [...url.searchParams.keys()].filter(
            (k) => SECRET_NAME.test(k) || /^(?:key|sig|code)$/i.test(k),
          );
          if (url.username !== '' || url.password !== '')
            return [at(s, `the URL of \`${s.name}\` carries a user name and password`, '.url')];
          return keys.length > 0
            ? [
                at(
                  s,
                  `the URL of \`${s.name}\` carries ${keys.map((k) => `\`${k}\``).join(', ')} (value redacted)`,
                  '.url',
                ),
              ]
            : [];
        } catch {
          return [];
        }
      }),
  },
  {
    id: 'PST-022',
    title: 'Token lives longer than an hour',
    severity: 'medium',
    pillar: 'identity',
    owasp: ['LLM06:2025'],
    asi: ['ASI03'],
    atlas: ['AML.T0091.000'],
    remediation: 'Issue tokens for at most an hour (`posture token issue --ttl 15m`) and refresh them.',
    run: (c) =>
      eachServer(c, (s) =>
        configuredTexts(s).flatMap(({ path, text }) =>
          jwtPayloads(text).flatMap((claims) => {
            const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
            const iat = typeof claims.iat === 'number' ? claims.iat : undefined;
            if (exp === undefined)
              return [{ file: s.file, path, message: `the token in \`${path}\` never expires` }];
            const life = exp - (iat ?? Math.floor(c.now / 1000));
            return life > 3600
              ? [
                  {
                    file: s.file,
                    path,
                    message: `the token in \`${path}\` lives ${Math.round(life / 3600)} h`,
                  },
                ]
              : [];
          }),
        ),
      ),
  },
  {
    id: 'PST-023',
    title: 'Agent owner is not a known user',
    severity: 'medium',
    pillar: 'identity',
    owasp: ['LLM06:2025'],
    asi: ['ASI10', 'ASI03'],
    atlas: ['AML.T0108'],
    remediation: 'Give every agent an owner declared under `users:`, accountable for its grants.',
    run: (c) =>
      eachPolicy(c, ({ file, policy }) =>
        Object.entries(policy.agents)
          .filter(([, a]) => !(a.owner in policy.users))
          .map(([name, a]) => ({
            file,
            path: `agents.${name}.owner`,
            message: `agent \`${name}\` is owned by \`${a.owner}\`, who is not under users:`,
          })),
      ),
  },
  {
    id: 'PST-024',
    title: 'Agent seen by the gateway has no owner in the policy',
    severity: 'high',
    pillar: 'identity',
    owasp: ['LLM06:2025'],
    asi: ['ASI10'],
    atlas: ['AML.T0103'],
    remediation: 'Declare the agent with an owner in posture.yaml, or revoke its tokens.',
    run: (c) => {
      const declared = new Set(c.policies.flatMap((p) => Object.keys(p.policy.agents)));
      return c.discovery.databases.flatMap((db) =>
        db.agents
          .filter((a) => !declared.has(a.name))
          .map((a) => ({
            file: db.file,
            path: `agents.${a.name}`,
            message: `agent \`${a.name}\` called through the gateway (last ${a.last_seen}) but no policy declares it`,
          })),
      );
    },
  },
  {
    id: 'PST-025',
    title: 'Approvals can come from the agent or its own runners',
    severity: 'high',
    pillar: 'identity',
    owasp: ['LLM06:2025'],
    asi: ['ASI03', 'ASI09'],
    atlas: ['AML.T0053'],
    remediation: 'Name approvers who do not run the agent (separation of duties); never an agent identity.',
    run: (c) =>
      eachPolicy(c, (loaded) => {
        const { file, policy } = loaded;
        const out: Evidence[] = [];
        for (const tier of ['1', '2', '3'] as const) {
          const approvers = policy.tiers[tier]?.approval?.approvers;
          if (!approvers) continue;
          const users = expand(loaded, approvers);
          for (const agent of Object.keys(policy.agents)) {
            if (users.has(agent) || approvers.includes(`agent:${agent}`)) {
              out.push({
                file,
                path: `tiers.${tier}.approval.approvers`,
                message: `agent \`${agent}\` is among the tier-${tier} approvers`,
              });
            }
          }
          for (const [name, agent] of Object.entries(policy.agents)) {
            const runners = expand(loaded, agent.run_by);
            if (users.size > 0 && [...users].every((u) => runners.has(u))) {
              out.push({
                file,
                path: `tiers.${tier}.approval.approvers`,
                message: `every tier-${tier} approver also runs \`${name}\`: its runners approve each other's calls`,
              });
            }
          }
        }
        return out;
      }),
  },
  {
    id: 'PST-026',
    title: 'Agent tokens may live longer than an hour',
    severity: 'low',
    pillar: 'identity',
    owasp: ['LLM06:2025'],
    asi: ['ASI03'],
    atlas: ['AML.T0091.000'],
    remediation:
      'Keep `token_ttl` at an hour or less and issue new tokens as they expire: a stolen token is good until then.',
    run: (c) =>
      eachPolicy(c, ({ file, policy }) =>
        Object.entries(policy.agents)
          .filter(([, a]) => a.token_ttl !== undefined && durationMs(a.token_ttl) > DEFAULT_TOKEN_TTL_MS)
          .map(([name, a]) => ({
            file,
            path: `agents.${name}.token_ttl`,
            message: `tokens of agent \`${name}\` may live ${a.token_ttl}`,
          })),
      ),
  },
  // ——— permission ———
  {
    id: 'PST-030',
    title: 'Write or admin access granted by wildcard',
    severity: 'high',
    pillar: 'permission',
    owasp: ['LLM06:2025'],
    asi: ['ASI02'],
    atlas: ['AML.T0053'],
    remediation: 'List write and admin tools one by one (`tickets/add_comment`), never `server/*`.',
    run: (c) =>
      eachPolicy(c, ({ file, policy }) =>
        Object.entries(policy.agents).flatMap(([name, a]) =>
          a.grants.flatMap((g, i) =>
            g.effect === 'allow' && g.access !== 'read' && g.tools.some((t) => /[*?]/.test(t))
              ? [
                  {
                    file,
                    path: `agents.${name}.grants[${i}]`,
                    message: `\`${name}\` gets ${g.access} on ${g.tools
                      .filter((t) => /[*?]/.test(t))
                      .map((t) => `\`${t}\``)
                      .join(', ')}`,
                  },
                ]
              : [],
          ),
        ),
      ),
  },
  {
    id: 'PST-031',
    title: 'Grant covers every tool of every server',
    severity: 'high',
    pillar: 'permission',
    owasp: ['LLM06:2025'],
    asi: ['ASI02'],
    atlas: ['AML.T0053'],
    remediation: 'Grant per server and per tool; a server added later must not be reachable by default.',
    run: (c) =>
      eachPolicy(c, ({ file, policy }) =>
        Object.entries(policy.agents).flatMap(([name, a]) =>
          a.grants.flatMap((g, i) =>
            g.effect === 'allow' && g.tools.some((t) => t.startsWith('*/'))
              ? [
                  {
                    file,
                    path: `agents.${name}.grants[${i}]`,
                    message: `\`${name}\` is granted ${g.tools
                      .filter((t) => t.startsWith('*/'))
                      .map((t) => `\`${t}\``)
                      .join(', ')} across all servers`,
                  },
                ]
              : [],
          ),
        ),
      ),
  },
  {
    id: 'PST-032',
    title: 'Admin access granted',
    severity: 'medium',
    pillar: 'permission',
    owasp: ['LLM06:2025'],
    asi: ['ASI03'],
    atlas: ['AML.T0053'],
    remediation: 'Keep admin tools for humans, or put them behind tier-3 approval with step-up.',
    run: (c) =>
      eachPolicy(c, ({ file, policy }) =>
        Object.entries(policy.agents).flatMap(([name, a]) =>
          a.grants.flatMap((g, i) =>
            g.effect === 'allow' && g.access === 'admin'
              ? [
                  {
                    file,
                    path: `agents.${name}.grants[${i}]`,
                    message: `\`${name}\` has admin access to ${g.tools.map((t) => `\`${t}\``).join(', ')}`,
                  },
                ]
              : [],
          ),
        ),
      ),
  },
  {
    id: 'PST-033',
    title: 'Tier-3 tools run without approval by a second person',
    severity: 'high',
    pillar: 'permission',
    owasp: ['LLM06:2025'],
    asi: ['ASI02', 'ASI09'],
    atlas: ['AML.T0101', 'AML.T0053'],
    remediation: 'Set `tiers: { 3: { approval: { approvers: [group:approvers], step_up: true } } }`.',
    run: (c) =>
      eachPolicy(c, (loaded) =>
        Object.keys(loaded.policy.agents).flatMap((agent) => {
          const open = reachable(loaded, agent).filter(
            (p) => p.tool.tier === 3 && !p.controls.some((c) => c.verdict === 'approve'),
          );
          return open.length > 0
            ? [
                {
                  file: loaded.file,
                  path: `agents.${agent}`,
                  message: `\`${agent}\` can call ${open.map((p) => `\`${p.tool.key}\``).join(', ')} (tier 3) without anyone else approving`,
                },
              ]
            : [];
        }),
      ),
  },
  {
    id: 'PST-034',
    title: 'Tier-3 approval without step-up',
    severity: 'medium',
    pillar: 'permission',
    owasp: ['LLM06:2025'],
    asi: ['ASI09', 'ASI03'],
    atlas: ['AML.T0091.000'],
    remediation: 'Set `step_up: true` so approving a high-impact call needs a fresh authentication.',
    run: (c) =>
      eachPolicy(c, ({ file, policy }) => {
        const approval = policy.tiers[3]?.approval;
        return approval && !approval.step_up
          ? [
              {
                file,
                path: 'tiers.3.approval.step_up',
                message: 'tier-3 approvals are given without step-up authentication',
              },
            ]
          : [];
      }),
  },
  {
    id: 'PST-035',
    title: 'Filesystem server given the root or a home folder',
    severity: 'high',
    pillar: 'permission',
    owasp: ['LLM06:2025', 'LLM02:2025'],
    asi: ['ASI02'],
    atlas: ['AML.T0085.001', 'AML.T0098'],
    remediation: 'Give the server only the project folder it needs.',
    run: (c) =>
      eachServer(c, (s) => {
        const fs = /file-?system|(?:^|[-_/])fs(?:$|[-_])/i.test(`${s.name} ${s.args.join(' ')}`);
        if (!fs) return [];
        const wide = s.args.filter((a) =>
          /^(?:\/|~\/?|\$\{?HOME\}?\/?|%USERPROFILE%\\?|\/root\/?|\/home\/[^/]+\/?|\/Users\/[^/]+\/?|[A-Za-z]:[\\/]?)$/.test(
            a,
          ),
        );
        return wide.map((a) => at(s, `\`${s.name}\` may read and write all of \`${a}\``, '.args'));
      }),
  },
  {
    id: 'PST-036',
    title: 'Irreversible write granted without argument constraints',
    severity: 'medium',
    pillar: 'permission',
    owasp: ['LLM06:2025'],
    asi: ['ASI02'],
    atlas: ['AML.T0101'],
    remediation: 'Bound the arguments (`when: { amount: { maximum: 500 } }`) of irreversible tools.',
    run: (c) =>
      eachPolicy(c, (loaded) =>
        Object.entries(loaded.policy.agents).flatMap(([name]) =>
          reachable(loaded, name)
            .filter((p) => p.tool.irreversible && p.tool.access !== 'read')
            // The compiled grants are those that cover the tool at its access level: a read grant
            // whose glob also matches a write tool does not let it be written.
            .flatMap((p) =>
              p.grants
                .filter((g) => g.checks.length === 0)
                .map((g) => ({
                  file: loaded.file,
                  path: g.rule,
                  message: `\`${name}\` may call irreversible \`${p.tool.key}\` with any arguments (\`${g.rule}\`)`,
                })),
            ),
        ),
      ),
  },
  {
    id: 'PST-037',
    title: 'Policy file has errors',
    severity: 'high',
    pillar: 'permission',
    owasp: ['LLM06:2025'],
    asi: ['ASI02'],
    atlas: ['AML.T0081'],
    remediation: 'Run `posture check` and fix each error; the gateway refuses a policy with errors.',
    run: (c) =>
      c.discovery.policies.flatMap((p) =>
        p.problems
          .filter((q) => q.severity === 'error')
          .slice(0, 20)
          .map((q) => ({ file: p.file, path: `${q.line}:${q.column}`, message: `${q.code}: ${q.message}` })),
      ),
  },
  {
    id: 'PST-038',
    title: 'Agent servers without a Posture policy',
    severity: 'high',
    pillar: 'permission',
    owasp: ['LLM06:2025'],
    asi: ['ASI02'],
    atlas: ['AML.T0053'],
    remediation: 'Write a posture.yaml (`posture start`) granting each agent only what it needs.',
    run: (c) =>
      c.discovery.policies.length === 0 && c.clientServers.length > 0
        ? [
            {
              file: c.discovery.root,
              message: `${c.clientServers.length} configured server(s) and no posture.yaml: every tool is allowed`,
            },
          ]
        : [],
  },
  // ——— execution ———
  {
    id: 'PST-040',
    title: 'Shell or code-execution tool',
    severity: 'high',
    pillar: 'execution',
    owasp: ['LLM06:2025'],
    asi: ['ASI05'],
    atlas: ['AML.T0053'],
    remediation: 'Remove it, or grant it only behind tier-3 approval in a sandbox without credentials.',
    run: (c) => [
      ...c.tools
        .filter((t) => executesCode(t.tool.name, t.tool.description))
        .map((t) => ({
          file: t.file,
          path: `${t.server}/${t.tool.name}`,
          message: `\`${t.server}/${t.tool.name}\` runs commands or code`,
        })),
      ...eachServer(c, (s) =>
        EXEC_PACKAGES.test(s.args.join(' '))
          ? [at(s, `\`${s.name}\` is a command-execution server`, '.args')]
          : [],
      ),
    ],
  },
  {
    id: 'PST-041',
    title: 'No rate limit',
    severity: 'medium',
    pillar: 'execution',
    owasp: ['LLM10:2025'],
    asi: ['ASI08'],
    atlas: ['AML.T0034.002'],
    remediation: 'Set `limits: { default: { rate: 60/m } }`.',
    run: limitMissing('rate', 'rate limit'),
  },
  {
    id: 'PST-042',
    title: 'No call timeout',
    severity: 'medium',
    pillar: 'execution',
    owasp: ['LLM10:2025'],
    asi: ['ASI08'],
    atlas: ['AML.T0034.002'],
    remediation: 'Set `limits: { default: { timeout: 30s } }`.',
    run: limitMissing('timeout', 'call timeout'),
  },
  {
    id: 'PST-043',
    title: 'No loop limit',
    severity: 'medium',
    pillar: 'execution',
    owasp: ['LLM10:2025'],
    asi: ['ASI08'],
    atlas: ['AML.T0034.002'],
    remediation: 'Set `limits: { default: { loop: { repeats: 5, within: 2m } } }`.',
    run: limitMissing('loop', 'loop limit'),
  },
  {
    id: 'PST-044',
    title: 'No per-session call budget',
    severity: 'low',
    pillar: 'execution',
    owasp: ['LLM10:2025'],
    asi: ['ASI08'],
    atlas: ['AML.T0034.002'],
    remediation: 'Set `limits: { default: { max_calls: 500 } }`.',
    run: limitMissing('max_calls', 'call budget'),
  },
  {
    id: 'PST-045',
    title: 'Container runs privileged or with host access',
    severity: 'high',
    pillar: 'execution',
    owasp: ['LLM06:2025'],
    asi: ['ASI05'],
    atlas: ['AML.T0112.000'],
    remediation:
      'Drop `--privileged`, host namespaces and the Docker socket; mount only what the server needs.',
    run: (c) =>
      eachServer(c, (s) => {
        const run = containerRun(s);
        if (!run) return [];
        const opts = run.options.join(' ');
        const bad = [
          /--privileged/.test(opts) && '--privileged',
          /--(?:network|net|pid|ipc)[= ]host/.test(opts) && 'a host namespace',
          /docker\.sock/.test(opts) && 'the Docker socket',
          /(?:^|\s)\/:/.test(opts) && 'the host root folder',
        ].filter((x): x is string => typeof x === 'string');
        return bad.length > 0 ? [at(s, `\`${run.image}\` runs with ${bad.join(', ')}`, '.args')] : [];
      }),
  },
  {
    id: 'PST-046',
    title: 'Server runs as root through sudo',
    severity: 'high',
    pillar: 'execution',
    owasp: ['LLM06:2025'],
    asi: ['ASI05', 'ASI03'],
    atlas: ['AML.T0112.000'],
    remediation: 'Run the server as an unprivileged user.',
    run: (c) =>
      eachServer(c, (s) =>
        ['sudo', 'doas', 'runas'].includes(program(s))
          ? [at(s, `\`${s.name}\` is launched with \`${program(s)}\``, '.command')]
          : [],
      ),
  },
  // ——— data ———
  // Posture's own logs redact every event before storing it, whatever the policy says; these look
  // at what a gateway database actually holds (a log written by something else, or edited).
  ...(['secrets', 'pii'] as const).map((family, i): Check => ({
    id: `PST-05${i}`,
    title:
      family === 'secrets' ? 'Evidence holds unredacted secrets' : 'Evidence holds unredacted personal data',
    severity: family === 'secrets' ? 'high' : 'medium',
    pillar: 'data',
    owasp: ['LLM02:2025'],
    asi: ['ASI03'],
    atlas: ['AML.T0057'],
    remediation:
      'Write evidence only through Posture (its audit logs redact every event before storing it); find who else writes to the database, then rotate what leaked.',
    run: (c) =>
      c.discovery.databases.flatMap((db) => {
        const count = db.audit?.unredacted[family] ?? 0;
        return count > 0
          ? [
              {
                file: db.file,
                message: `${count} ${family === 'secrets' ? 'secret' : 'personal'} value${count === 1 ? '' : 's'} stored as ${count === 1 ? 'it is' : 'they are'} in ${db.audit!.unredacted.events} audit event${db.audit!.unredacted.events === 1 ? '' : 's'}`,
              },
            ]
          : [];
      }),
  })),
  ...(['pii', 'secrets'] as const).map((family, i): Check => ({
    id: `PST-05${2 + i}`,
    title:
      family === 'pii' ? 'Open-world tool can receive personal data' : 'Open-world tool can receive secrets',
    severity: 'high',
    pillar: 'data',
    owasp: ['LLM02:2025'],
    asi: ['ASI02'],
    atlas: ['AML.T0086'],
    remediation: `Add a data rule \`{ tools: [server/tool], direction: in, block: [${family}] }\` or a flow that needs approval after \`${family}\`.`,
    run: (c) =>
      eachPolicy(c, (loaded) => {
        const { policy, file } = loaded;
        const tools = [...(loaded.compiled?.catalog.values() ?? [])].filter(
          (t) => t.external || t.classification.reasons.some((r) => r.code.includes('open_world')),
        );
        const covers = (globs: readonly string[] | undefined, key: string) =>
          globs === undefined || globs.some((g) => globMatch(g, key));
        return tools
          .filter(
            (t) =>
              !policy.data.rules.some(
                (r) =>
                  r.direction !== 'out' &&
                  r.block.includes(family) &&
                  r.tools.some((g) => globMatch(g, t.key)),
              ),
          )
          .filter(
            (t) =>
              !policy.data.flows.some(
                (f) =>
                  f.after.includes(family) &&
                  covers(f.tools, t.key) &&
                  (f.tiers === undefined || f.tiers.includes(t.tier)),
              ),
          )
          .filter((t) => t.accepts === undefined || t.accepts.includes(family))
          .map((t) => ({
            file,
            path: `servers.${t.server}.tools.${t.name}`,
            message: `\`${t.key}\` sends outside and nothing stops ${family} reaching it`,
          }));
      }),
  })),
  {
    id: 'PST-054',
    title: 'Untrusted content does not raise controls',
    severity: 'medium',
    pillar: 'data',
    owasp: ['LLM01:2025'],
    asi: ['ASI01'],
    atlas: ['AML.T0051.001'],
    remediation: 'Add `data.flows: [{ after: [untrusted], tiers: [2, 3], require: approval }]`.',
    run: (c) =>
      eachPolicy(c, (loaded) => {
        const returning = [...(loaded.compiled?.catalog.values() ?? [])].filter((t) =>
          t.returns.includes('untrusted'),
        );
        return returning.length > 0 && !loaded.policy.data.flows.some((f) => f.after.includes('untrusted'))
          ? [
              {
                file: loaded.file,
                path: 'data.flows',
                message: `${returning.map((t) => `\`${t.key}\``).join(', ')} return untrusted content and no flow rule acts on it`,
              },
            ]
          : [];
      }),
  },
  {
    id: 'PST-055',
    title: 'Configuration with secrets is readable by other users',
    severity: 'medium',
    pillar: 'data',
    owasp: ['LLM02:2025'],
    asi: ['ASI03'],
    atlas: ['AML.T0083'],
    remediation: 'Run `chmod 600` on the file, and move the secret out of it.',
    run: (c) => {
      const withSecrets = new Set(
        c.discovery.servers
          .filter((s) => configuredTexts(s).some(({ key, text }) => secretClasses(c, key, text).length > 0))
          .map((s) => s.file),
      );
      return [...withSecrets]
        .filter((f) => ((c.discovery.modes[f] ?? 0) & 0o044) !== 0)
        .map((f) => ({
          file: f,
          message: `mode \`${(c.discovery.modes[f] ?? 0).toString(8)}\` lets other users read its secrets`,
        }));
    },
  },
  // ——— monitoring ———
  {
    id: 'PST-060',
    title: 'Server reachable without the gateway',
    severity: 'high',
    pillar: 'monitoring',
    owasp: ['LLM06:2025'],
    asi: ['ASI02'],
    atlas: ['AML.T0053'],
    remediation:
      'Point the client at `posture gateway` and move the server under `servers:` in posture.yaml.',
    run: (c) =>
      c.clientServers
        .filter((s) => !isGateway(s))
        .map((s) => at(s, `${DIRECT_CLIENT} \`${s.name}\` directly: no policy, no evidence`)),
  },
  {
    id: 'PST-061',
    title: 'Gateway lets reads run without evidence',
    severity: 'medium',
    pillar: 'monitoring',
    owasp: ['LLM06:2025'],
    asi: ['ASI10'],
    atlas: ['AML.T0053'],
    remediation: 'Remove `--fail-open-reads`: every call should be recorded before its result returns.',
    run: (c) =>
      c.clientServers
        .filter((s) => isGateway(s) && s.args.includes('--fail-open-reads'))
        .map((s) => at(s, 'reads run unrecorded while the audit log cannot be written', '.args')),
  },
  {
    id: 'PST-062',
    title: 'Audit log does not verify',
    severity: 'critical',
    pillar: 'monitoring',
    owasp: ['LLM06:2025'],
    asi: ['ASI10'],
    atlas: ['AML.T0081'],
    remediation:
      'Run `posture audit verify`, investigate the first bad index, and keep audit.pub beside the database.',
    run: (c) =>
      c.discovery.databases.flatMap((db) =>
        db.audit && !db.audit.ok
          ? [
              {
                file: db.file,
                message: `${db.audit.reason ?? 'the log does not verify'}${db.audit.firstBadIndex !== undefined ? ` (first bad index ${db.audit.firstBadIndex})` : ''}`,
              },
            ]
          : [],
      ),
  },
  {
    id: 'PST-063',
    title: 'No gateway inventory',
    severity: 'low',
    pillar: 'monitoring',
    owasp: ['LLM03:2025'],
    asi: ['ASI04'],
    atlas: ['AML.T0109'],
    remediation: 'Run the gateway so tool definitions are recorded and a change is noticed.',
    run: (c) =>
      c.policies.length > 0 && c.discovery.databases.length === 0
        ? [
            {
              file: c.discovery.root,
              message:
                'no .posture/posture.db: tool definitions are not pinned and calls leave no evidence here',
            },
          ]
        : [],
  },
  {
    id: 'PST-064',
    title: 'Configuration file could not be read',
    severity: 'low',
    pillar: 'monitoring',
    owasp: ['LLM03:2025'],
    asi: ['ASI04'],
    atlas: ['AML.T0081'],
    remediation: 'Fix or remove the file; what cannot be read cannot be assessed.',
    run: (c) =>
      c.discovery.problems
        .filter((p) => p.code !== 'connect.failed')
        .map((p) => ({ file: p.file, message: p.message })),
  },
];

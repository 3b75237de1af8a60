// A plain reading of the benchmark policy for the other engines and the request mix: the tool
// catalog, who may run each agent, and which grants cover which tools. Written independently of
// packages/core (only the parsed YAML is shared), so the floor does not borrow Posture's compiler.

const RANK = { read: 0, write: 1, admin: 2 };

/** `tickets/*`, `*\/get_*` → RegExp over `server/tool`. */
function globRegExp(glob) {
  const source = [...glob].map((c) =>
    c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\-]/g, '\\$&'),
  );
  return new RegExp(`^${source.join('')}$`);
}

export function policyView(policy) {
  /** `server/tool` → { key, server, name, access, tier } (every tool in the fixture is explicit). */
  const tools = new Map();
  for (const [server, config] of Object.entries(policy.servers)) {
    for (const [name, tool] of Object.entries(config.tools ?? {})) {
      tools.set(`${server}/${name}`, {
        key: `${server}/${name}`,
        server,
        name,
        access: tool.access,
        tier: tool.tier,
      });
    }
  }

  const groupsOf = new Map(Object.entries(policy.users).map(([user, { groups }]) => [user, new Set(groups)]));
  const usersOf = (principals) =>
    [...groupsOf.keys()].filter((user) =>
      principals.some((p) => (p.startsWith('group:') ? groupsOf.get(user).has(p.slice(6)) : p === user)),
    );

  /** agent → { runBy: users, covered: Map<toolKey, grants that cover it> } */
  const agents = new Map();
  for (const [name, agent] of Object.entries(policy.agents)) {
    const covered = new Map();
    for (const grant of agent.grants) {
      if (grant.effect === 'deny') throw new Error('the bench engines do not model deny grants');
      const patterns = grant.tools.map(globRegExp);
      for (const tool of tools.values()) {
        if (RANK[grant.access] < RANK[tool.access] || !patterns.some((p) => p.test(tool.key))) continue;
        covered.set(tool.key, [...(covered.get(tool.key) ?? []), grant]);
      }
    }
    agents.set(name, { name, runBy: usersOf(agent.run_by), covered });
  }
  return { tools, agents, users: [...groupsOf.keys()] };
}

// The floor: the least work that reaches the same verdict. Map lookups (agent → tool → the
// grants covering it) and ajv validators precompiled from the same `when` schemas. No reasons,
// rule ids or obligations: it only says allow, approve (tier 3 needs approval) or deny.
import { Ajv } from 'ajv';

export function createFloor(view) {
  const ajv = new Ajv({ strict: true });
  const agents = new Map();
  for (const agent of view.agents.values()) {
    const tools = new Map();
    for (const [key, grants] of agent.covered) {
      tools.set(key, {
        approve: view.tools.get(key).tier === 3,
        // One list of argument checks per covering grant; the call passes if any grant passes.
        grants: grants.map((grant) =>
          Object.entries(grant.when ?? {}).map(([arg, schema]) => ({ arg, validate: ajv.compile(schema) })),
        ),
      });
    }
    agents.set(agent.name, { runBy: new Set(agent.runBy), tools });
  }

  const EMPTY = {};
  return function floorDecide(request) {
    const agent = agents.get(request.agent);
    if (agent === undefined || !agent.runBy.has(request.user)) return 'deny';
    const tool = agent.tools.get(request.tool);
    if (tool === undefined) return 'deny';
    const args = request.args ?? EMPTY;
    for (const checks of tool.grants) {
      let ok = true;
      for (const { arg, validate } of checks) {
        const value = args[arg];
        if (value === undefined || !validate(value)) {
          ok = false;
          break;
        }
      }
      if (ok) return tool.approve ? 'approve' : 'allow';
    }
    return 'deny';
  };
}

// Cedar (@cedar-policy/cedar-wasm) deciding the same grants, written by hand in
// fixtures/policy.cedar. The policy set is preparsed once (statefulIsAuthorized), so each call
// pays for the request and its two entities crossing into WebAssembly, and the evaluation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';

const POLICY_SET = 'bench';

export function createCedar(view, fixtures) {
  const text = readFileSync(join(fixtures, 'policy.cedar'), 'utf8');
  const parsed = cedar.preparsePolicySet(POLICY_SET, { staticPolicies: text });
  if (parsed.type !== 'success')
    throw new Error(`policy.cedar: ${parsed.errors.map((e) => e.message).join('; ')}`);

  // Entities and uids are built once; per call only the request and its context are new.
  const agents = new Map(
    [...view.agents.values()].map((agent) => [
      agent.name,
      { uid: { type: 'Agent', id: agent.name }, attrs: { runBy: agent.runBy }, parents: [] },
    ]),
  );
  const tools = new Map(
    [...view.tools.values()].map((tool) => [
      tool.key,
      {
        entity: {
          uid: { type: 'Tool', id: tool.key },
          attrs: { server: tool.server, name: tool.name, tier: tool.tier },
          parents: [],
        },
        action: { type: 'Action', id: tool.access },
        approve: tool.tier === 3,
      },
    ]),
  );
  // An unknown tool needs the highest access, as Posture classifies what it cannot place upward.
  const UNKNOWN_ACTION = { type: 'Action', id: 'admin' };
  const EMPTY = {};

  return function cedarDecide(request) {
    const agent = agents.get(request.agent);
    const tool = tools.get(request.tool);
    const entities = [];
    if (agent) entities.push(agent);
    if (tool) entities.push(tool.entity);
    const answer = cedar.statefulIsAuthorized({
      principal: { type: 'Agent', id: request.agent },
      action: tool ? tool.action : UNKNOWN_ACTION,
      resource: { type: 'Tool', id: request.tool },
      context: { user: request.user ?? '', args: request.args ?? EMPTY },
      preparsedPolicySetId: POLICY_SET,
      entities,
    });
    if (answer.type !== 'success')
      throw new Error(`cedar failed: ${answer.errors.map((e) => e.message).join('; ')}`);
    if (answer.response.decision !== 'allow') return 'deny';
    return tool.approve ? 'approve' : 'allow';
  };
}

// casbin (node-casbin) deciding the same grants: fixtures/casbin-model.conf and
// casbin-policy.csv, with the argument constraints as per-policy conditions in the matcher.
// enforceSync evaluates the matcher against every policy line, so its cost grows with the policy.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newEnforcer, newModelFromString, StringAdapter } from 'casbin';

export async function createCasbin(view, fixtures) {
  const model = newModelFromString(readFileSync(join(fixtures, 'casbin-model.conf'), 'utf8'));
  const enforcer = await newEnforcer(
    model,
    new StringAdapter(readFileSync(join(fixtures, 'casbin-policy.csv'), 'utf8')),
  );
  // JSON Schema's `type: integer` and `type: string`: without them `"100" <= 500` would pass.
  enforcer.addFunction('isInt', (value) => Number.isInteger(value));
  enforcer.addFunction('isString', (value) => typeof value === 'string');
  const tools = new Map([...view.tools.values()].map((tool) => [tool.key, tool]));
  const EMPTY = {};

  return function casbinDecide(request) {
    const tool = tools.get(request.tool);
    // An unknown tool's access is `unknown`, which no policy line grants.
    const allowed = enforcer.enforceSync(
      request.agent,
      request.user ?? '',
      request.tool,
      tool?.access ?? 'unknown',
      request.args ?? EMPTY,
    );
    if (!allowed) return 'deny';
    return tool.tier === 3 ? 'approve' : 'allow';
  };
}

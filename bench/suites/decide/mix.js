// The request mix every engine decides: deterministic (seeded), shaped like agent traffic. Most
// calls are granted reads; some are writes whose arguments pass or fail their constraints; some
// call tools the agent was not granted or that no server has; a few tier-3 calls need approval;
// a few come from a user who may not run the agent.
import { prng } from '../../lib.js';

const AGENT_SHARE = {
  'support-bot': 0.3,
  'code-agent': 0.25,
  'sales-assistant': 0.15,
  'ops-agent': 0.15,
  'finance-agent': 0.15,
};
const KIND_SHARE = { read: 0.67, write: 0.14, tier3: 0.07, ungranted: 0.07, unknown: 0.04, wrong_user: 0.01 };
/** Share of writes whose arguments satisfy the grant's constraints. */
const PASSING = { write: 0.75, tier3: 0.85 };

const UNKNOWN_TOOLS = [
  'shell/exec',
  'email/send',
  'payments/transfer',
  'github/force_push',
  'tickets/delete_all',
  'crm/export_all',
];
const WORDS = [
  'refund',
  'login',
  'invoice',
  'timeout',
  'export',
  'billing',
  'password',
  'latency',
  'crash',
  'upgrade',
  'webhook',
  'sso',
];
const SERVICES = ['api', 'web', 'worker', 'billing'];
const CODE =
  'export function total(items: Item[]): number {\n  return items.reduce((sum, item) => sum + item.price * item.quantity, 0);\n}\n'.repeat(
    4,
  );

export function makeMix(view, { size = 10_000, sessions: sessionCount = 1_000, seed = 20_240_601 } = {}) {
  const rng = prng(seed);
  const sessions = Array.from({ length: sessionCount }, (_, i) => {
    const agent = view.agents.get(rng.weighted(AGENT_SHARE));
    return { id: `sess-${String(i).padStart(4, '0')}`, agent, user: rng.pick(agent.runBy) };
  });
  const toolsOf = (agent) => {
    const covered = [...agent.covered.keys()].map((key) => view.tools.get(key));
    return {
      read: covered.filter((t) => t.access === 'read'),
      write: covered.filter((t) => t.access !== 'read' && t.tier < 3),
      tier3: covered.filter((t) => t.tier === 3),
      ungranted: [...view.tools.values()].filter((t) => !agent.covered.has(t.key)),
    };
  };
  const byAgent = new Map([...view.agents.values()].map((agent) => [agent.name, toolsOf(agent)]));

  const requests = [];
  const kinds = [];
  while (requests.length < size) {
    const session = rng.pick(sessions);
    const tools = byAgent.get(session.agent.name);
    let kind = rng.weighted(KIND_SHARE);
    if (kind === 'tier3' && tools.tier3.length === 0) kind = 'write';
    const request = {
      agent: session.agent.name,
      user: session.user,
      tool: '',
      args: {},
      session: session.id,
    };
    if (kind === 'unknown') {
      request.tool = rng.pick(UNKNOWN_TOOLS);
      request.args = { input: `${rng.pick(WORDS)} ${rng.int(1, 9999)}` };
    } else {
      const tool = rng.pick(kind === 'wrong_user' ? tools.read : tools[kind]);
      request.tool = tool.key;
      request.args = argsFor(tool, rng, rng.next() < (PASSING[kind] ?? 1));
      if (kind === 'wrong_user')
        request.user = rng.pick(view.users.filter((u) => !session.agent.runBy.includes(u)));
    }
    requests.push(request);
    kinds.push(kind);
  }
  return { requests, kinds, sessions: sessionCount };
}

/** Realistic arguments; with `pass` false, the argument a grant constrains breaks its constraint. */
function argsFor(tool, rng, pass) {
  const id = (prefix) => `${prefix}-${rng.int(1000, 99999)}`;
  switch (tool.name) {
    case 'refund':
    case 'create_invoice':
    case 'issue_credit':
    case 'payout': {
      const args = {
        customer_id: id('cus'),
        amount: rng.int(1, 500),
        currency: rng.pick(['EUR', 'USD']),
        reason: `${rng.pick(WORDS)} complaint`,
      };
      if (!pass) {
        const how = rng.next();
        if (how < 0.6) args.amount = rng.int(60_001, 250_000);
        else if (how < 0.9) args.currency = 'JPY';
        else delete args.amount;
      }
      return args;
    }
    case 'push_commit':
      return {
        repo: 'acme/shop',
        branch: pass
          ? `${rng.pick(['feature', 'fix'])}/${rng.pick(WORDS)}-${rng.int(1, 999)}`
          : rng.pick(['main', 'release/2.4', 'production']),
        message: `${rng.pick(['fix', 'feat', 'chore'])}: handle ${rng.pick(WORDS)} edge case`,
        files: [{ path: `src/${rng.pick(WORDS)}.ts`, content: CODE }],
      };
    case 'create_branch':
      return { repo: 'acme/shop', branch: `feature/${rng.pick(WORDS)}-${rng.int(1, 999)}`, from: 'main' };
    case 'write_file':
      return {
        path: pass
          ? `/workspace/src/${rng.pick(WORDS)}/${rng.pick(WORDS)}.ts`
          : rng.pick(['/etc/cron.d/backup', '/workspace/../home/dev/.ssh/authorized_keys', '/root/.bashrc']),
        content: CODE,
      };
    case 'move_file':
      return { from: `/workspace/src/${rng.pick(WORDS)}.ts`, to: `/workspace/lib/${rng.pick(WORDS)}.ts` };
    case 'scale_service':
      return { service: rng.pick(SERVICES), replicas: pass ? rng.int(1, 20) : rng.pick([0, 50, 500]) };
    case 'deploy_staging':
    case 'deploy_production':
    case 'rollback':
      return {
        service: pass ? rng.pick(SERVICES) : rng.pick(['postgres-primary', 'vault']),
        version: `v2.${rng.int(0, 60)}.${rng.int(0, 9)}`,
      };
    case 'read_file':
    case 'list_dir':
    case 'stat':
    case 'search_files':
      return { path: `/workspace/src/${rng.pick(WORDS)}` };
    case 'get_file':
    case 'search_code':
      return { repo: 'acme/shop', path: `src/${rng.pick(WORDS)}.ts`, ref: 'main' };
    case 'add_comment':
    case 'comment_pr':
    case 'create_note':
    case 'create_issue':
      return {
        id: id(tool.server.slice(0, 3)),
        body: `Thanks for the report about the ${rng.pick(WORDS)} problem. We reproduced it and a fix is on its way; we will update this thread once it is deployed.`,
        public: rng.next() < 0.5,
      };
    case 'update_ticket':
    case 'update_contact':
      return {
        id: id(tool.server.slice(0, 3)),
        fields: {
          status: rng.pick(['open', 'pending', 'solved']),
          priority: rng.pick(['low', 'normal', 'high']),
          tags: [rng.pick(WORDS)],
        },
      };
    default:
      if (/^(list|search)_/.test(tool.name)) return { query: rng.pick(WORDS), limit: 20 };
      return { id: id(tool.server.slice(0, 3)) };
  }
}

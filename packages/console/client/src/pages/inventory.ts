// Inventory: the agents, servers and tools Posture has seen, each tool with its tier, access and
// whether its definition is the one a human approved (a changed definition is a possible rug pull).
import { ApiError } from '../api.js';
import { chip, h, replace, table, time } from '../dom.js';
import { escapedText } from '../escape.js';
import { errorText, keepOnError, type PageFactory } from '../page.js';
import { askStepUp } from '../stepup.js';
import { jsonDiff } from '../diff.js';
import type { InventoryTool, Seen, StandingException } from '../types.js';

interface InventoryResponse {
  agents: Seen[];
  servers: Seen[];
  tools: InventoryTool[];
  exceptions?: StandingException[];
  /** Whether this console can revoke agents' tokens (it reaches the gateways' revocations). */
  revoking?: boolean;
}

function exceptionRow(exception: StandingException): HTMLTableRowElement {
  const state = exception.revoked_at
    ? chip('revoked', 'approval-expired')
    : Date.parse(exception.expires_at) <= Date.now()
      ? chip('expired', 'approval-expired')
      : chip('active', 'approval-pending');
  return h(
    'tr',
    { data: { exception: exception.id } },
    h('td', null, escapedText(exception.agent)),
    h(
      'td',
      null,
      exception.tools.map((glob) => h('code', { class: 'rule' }, glob)),
    ),
    h('td', { class: 'text' }, escapedText(exception.justification)),
    h('td', null, escapedText(exception.approved_by)),
    h(
      'td',
      null,
      state,
      exception.revoked_by ? h('div', { class: 'muted' }, 'by ', escapedText(exception.revoked_by)) : null,
    ),
    h('td', null, time(exception.expires_at)),
  );
}

const seenRow = (item: Seen) =>
  h(
    'tr',
    null,
    h('td', null, escapedText(item.name)),
    h('td', null, time(item.first_seen)),
    h('td', null, time(item.last_seen)),
  );

export const inventoryPage: PageFactory = ({ api, session, hasRole }) => {
  const summary = h('div', { class: 'stats' });
  const tools = h('div');
  const agents = h('div');
  const servers = h('div');
  const exceptions = h('div');
  /** Tools whose "what changed" row is open, kept across refreshes. */
  const opened = new Set<string>();
  const message = h('p', { class: 'notice', role: 'status' });
  // An admin without a second factor cannot approve (the server needs step-up): say so instead.
  const mayApprove = hasRole('admin') && (session.factors.totp || session.factors.webauthn);
  const factorNote = h('p', { class: 'muted factor-note', hidden: true });
  const element = h(
    'div',
    { class: 'page inventory' },
    summary,
    h('section', { class: 'panel' }, h('h2', null, 'Tools'), message, factorNote, tools),
    h(
      'div',
      { class: 'grid-2' },
      h('section', { class: 'panel' }, h('h2', null, 'Agents'), agents),
      h('section', { class: 'panel' }, h('h2', null, 'Servers'), servers),
    ),
    h('section', { class: 'panel' }, h('h2', null, 'Standing exceptions'), exceptions),
  );

  // Approving a definition always needs step-up (API.md): ask first, then send once.
  const approve = async (tool: InventoryTool, button: HTMLButtonElement) => {
    message.textContent = '';
    const stepUp = await askStepUp(api, session, `Approving the definition of ${tool.server}/${tool.name}`);
    if (!stepUp) return;
    button.disabled = true;
    try {
      await api.post<{ tool: InventoryTool }>('/api/inventory/approve', {
        server: tool.server,
        name: tool.name,
        hash: tool.hash,
        stepUp,
      });
      message.textContent = `approved the definition of ${tool.server}/${tool.name} (${tool.hash.slice(0, 12)})`;
      await refresh();
    } catch (error) {
      message.textContent =
        error instanceof ApiError && error.code === 'mismatch'
          ? 'the definition changed again while you looked: review the new one'
          : errorText(error);
    } finally {
      button.disabled = false;
    }
  };

  // Revoking an agent's tokens always needs step-up (API.md); the agent reconnects only with a
  // token issued after it.
  const revokeAgent = async (agent: string, button: HTMLButtonElement) => {
    message.textContent = '';
    const stepUp = await askStepUp(api, session, `Revoking every token of ${agent}`);
    if (!stepUp) return;
    button.disabled = true;
    try {
      const { revocation } = await api.post<{ revocation: { until: string } }>(
        `/api/agents/${encodeURIComponent(agent)}/revoke`,
        { stepUp },
      );
      message.textContent = `revoked every token of ${agent} issued until now; the gateways refuse them within seconds (until ${revocation.until})`;
      await refresh();
    } catch (error) {
      message.textContent = errorText(error);
      button.disabled = false;
    }
  };

  const agentRow = (agent: Seen, revoking: boolean) =>
    h(
      'tr',
      { data: { agent: agent.name } },
      h('td', null, escapedText(agent.name)),
      h('td', null, time(agent.first_seen)),
      h('td', null, time(agent.last_seen)),
      h(
        'td',
        null,
        agent.tokens_revoked
          ? [
              chip('tokens revoked', 'approval-denied'),
              h('div', { class: 'muted' }, 'until ', time(agent.tokens_revoked.at)),
            ]
          : revoking && mayApprove
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'small danger revoke-agent',
                  on: {
                    click: (event) => void revokeAgent(agent.name, event.currentTarget as HTMLButtonElement),
                  },
                },
                'Revoke tokens',
              )
            : '-',
      ),
    );

  const toolRows = (tool: InventoryTool): HTMLTableRowElement[] => {
    const key = `${tool.server}/${tool.name}`;
    const diffRow =
      tool.status === 'changed' && tool.approved_definition
        ? h(
            'tr',
            { class: 'diff-row', data: { diff: key }, hidden: !opened.has(key) },
            h(
              'td',
              { colspan: 8 },
              h(
                'p',
                { class: 'muted' },
                'The definition agents see now, against the one ',
                escapedText(tool.approved_by ?? 'a human'),
                ' approved:',
              ),
              jsonDiff(tool.approved_definition, tool.definition),
            ),
          )
        : null;
    const toggle = diffRow
      ? h(
          'button',
          {
            type: 'button',
            class: 'small what-changed',
            'aria-expanded': String(opened.has(key)),
            on: {
              click: (event) => {
                const open = diffRow.hidden;
                diffRow.hidden = !open;
                if (open) opened.add(key);
                else opened.delete(key);
                (event.currentTarget as HTMLElement).setAttribute('aria-expanded', String(open));
              },
            },
          },
          'What changed',
        )
      : null;
    const row = toolRow(tool, toggle);
    return diffRow ? [row, diffRow] : [row];
  };

  const toolRow = (tool: InventoryTool, toggle: HTMLButtonElement | null) => {
    const action =
      tool.status !== 'approved' && mayApprove
        ? h(
            'button',
            {
              type: 'button',
              class: 'small',
              title: `approve definition ${tool.hash}`,
              on: { click: (event) => void approve(tool, event.currentTarget as HTMLButtonElement) },
            },
            tool.status === 'changed' ? 'Re-approve' : 'Approve',
          )
        : null;
    return h(
      'tr',
      { data: { tool: `${tool.server}/${tool.name}`, status: tool.status } },
      h(
        'td',
        { class: 'text' },
        h('span', { class: 'muted' }, escapedText(tool.server), '/'),
        escapedText(tool.name),
        tool.definition.description
          ? h('div', { class: 'muted' }, escapedText(tool.definition.description))
          : null,
      ),
      h(
        'td',
        null,
        tool.tier !== undefined
          ? chip(`tier ${tool.tier}`, `tier${tool.tier}`)
          : chip('unclassified', 'unknown'),
        tool.in_policy === false ? chip('not in policy', 'unknown') : null,
      ),
      h('td', null, tool.access ? chip(tool.access, `access-${tool.access}`) : '-'),
      h(
        'td',
        null,
        chip(tool.status, `status-${tool.status}`),
        tool.changes > 0
          ? h('span', { class: 'muted' }, ` ${tool.changes} change${tool.changes === 1 ? '' : 's'}`)
          : null,
      ),
      h('td', null, h('code', { title: tool.hash }, tool.hash.slice(0, 12))),
      h(
        'td',
        null,
        tool.approved_by
          ? [escapedText(tool.approved_by), h('div', { class: 'muted' }, time(tool.approved_at))]
          : '-',
      ),
      h('td', null, time(tool.last_seen)),
      h('td', null, h('div', { class: 'actions-cell' }, toggle, action)),
    );
  };

  const refresh = keepOnError(async () => {
    const inventory = await api.get<InventoryResponse>('/api/inventory');
    const changed = inventory.tools.filter((tool) => tool.status === 'changed').length;
    const unapproved = inventory.tools.filter((tool) => tool.status === 'new').length;
    factorNote.hidden = !(hasRole('admin') && !mayApprove && changed + unapproved > 0);
    replace(
      factorNote,
      'approving tool definitions needs a second factor: enrol one on the ',
      h('a', { href: '/account' }, 'Account page'),
    );
    replace(
      summary,
      h(
        'div',
        { class: 'stat stat-calm' },
        h('span', { class: 'stat-value' }, String(inventory.agents.length)),
        h('span', { class: 'stat-label' }, 'agents'),
      ),
      h(
        'div',
        { class: 'stat stat-calm' },
        h('span', { class: 'stat-value' }, String(inventory.servers.length)),
        h('span', { class: 'stat-label' }, 'servers'),
      ),
      h(
        'div',
        { class: 'stat stat-calm' },
        h('span', { class: 'stat-value' }, String(inventory.tools.length)),
        h('span', { class: 'stat-label' }, 'tools'),
      ),
      h(
        'div',
        { class: `stat ${changed > 0 ? 'stat-alarm' : 'stat-calm'}` },
        h('span', { class: 'stat-value' }, String(changed)),
        h('span', { class: 'stat-label' }, 'changed definitions'),
      ),
      h(
        'div',
        { class: `stat ${unapproved > 0 ? 'stat-attention' : 'stat-calm'}` },
        h('span', { class: 'stat-value' }, String(unapproved)),
        h('span', { class: 'stat-label' }, 'not yet approved'),
      ),
    );
    replace(
      tools,
      table(
        ['tool', 'tier', 'access', 'definition', 'hash', 'approved', 'last seen', ''],
        inventory.tools.flatMap(toolRows),
        'no tools seen yet',
      ),
    );
    replace(
      agents,
      table(
        ['agent', 'first seen', 'last seen', 'tokens'],
        inventory.agents.map((agent) => agentRow(agent, inventory.revoking === true)),
        'no agents seen yet',
      ),
    );
    replace(
      exceptions,
      table(
        ['agent', 'tools', 'justification', 'approved by', 'state', 'expires'],
        (inventory.exceptions ?? []).map(exceptionRow),
        'no standing exceptions',
      ),
    );
    replace(
      servers,
      table(['server', 'first seen', 'last seen'], inventory.servers.map(seenRow), 'no servers seen yet'),
    );
  });
  return { element, refresh };
};

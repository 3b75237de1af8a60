// The approvals desk: each request as the call itself — tool, target, arguments exactly as
// recorded (hidden characters spelled out), agent, user, reasons, rules, expiry — never a summary.
// Approving a step-up request asks for a second factor; the server enforces separation of duties
// and the UI says so before anyone tries. Users who may not decide (no approver role, no second
// factor) see why instead of buttons the server would refuse.
import { ApiError } from '../api.js';
import { chip, h, replace, table, time } from '../dom.js';
import { escapedJson, escapedText, hasHidden } from '../escape.js';
import { keepOnError, type Context, type PageFactory } from '../page.js';
import { askStepUp, type StepUp } from '../stepup.js';
import type { ApprovalRequest } from '../types.js';

const STATUSES = ['pending', 'approved', 'denied', 'expired', 'consumed', 'all'] as const;
type StatusFilter = (typeof STATUSES)[number];

const REFUSALS: Record<string, string> = {
  self_approval: 'separation of duties: the requesting user cannot decide their own request',
  not_approver: 'you are not among the approvers of this request',
  not_pending: 'this request was already decided',
  expired: 'this request expired',
  step_up_required: 'approving needs step-up authentication',
  step_up_failed: 'the step-up proof was not accepted: try a fresh code',
  no_second_factor: 'enrol a second factor (Account page) before deciding requests',
  forbidden: 'you need the approver role to decide',
};

function facts(request: ApprovalRequest): HTMLElement {
  const rows: Array<[string, Node | string]> = [
    ['status', chip(request.status, `approval-${request.status}`)],
    ['tool', escapedText(request.tool)],
    [
      'target',
      request.target === undefined
        ? h('span', { class: 'muted' }, '(not recorded)')
        : escapedText(request.target),
    ],
    [
      'arguments',
      request.args === undefined
        ? h('span', { class: 'muted' }, '(not recorded)')
        : escapedJson(request.args),
    ],
    ['args hash', h('code', null, request.args_hash)],
    ['agent', escapedText(request.agent)],
    ['user', escapedText(request.user)],
    ['session', escapedText(request.session)],
    [
      'approvers',
      h(
        'span',
        null,
        request.approvers.map((approver) => chip(approver, 'approver')),
      ),
    ],
    ['step-up', request.step_up ? chip('required to approve', 'stepup') : 'not required'],
    [
      'reasons',
      request.reasons.length === 0
        ? '-'
        : h(
            'ul',
            { class: 'reasons' },
            request.reasons.map((reason) =>
              h('li', null, h('code', null, reason.code), ' ', escapedText(reason.message)),
            ),
          ),
    ],
    [
      'rules',
      request.rules.length === 0
        ? '-'
        : h(
            'span',
            null,
            request.rules.map((rule) => h('code', { class: 'rule' }, rule)),
          ),
    ],
    ['created', time(request.created_at)],
    ['expires', time(request.expires_at)],
  ];
  if (request.decided_by !== undefined) {
    rows.push([
      'decided',
      h('span', null, 'by ', escapedText(request.decided_by), ' at ', time(request.decided_at)),
    ]);
  }
  if (request.step_up_proof) {
    rows.push([
      'step-up proof',
      h('span', null, request.step_up_proof.method, ' at ', time(request.step_up_proof.at)),
    ]);
  }
  if (request.comment) rows.push(['comment', escapedText(request.comment)]);
  if (request.consumed_at) rows.push(['used', time(request.consumed_at)]);

  const hidden = [
    request.tool,
    request.target ?? '',
    JSON.stringify(request.args ?? null),
    request.agent,
    request.user,
  ].some(hasHidden);
  return h(
    'div',
    null,
    hidden
      ? h(
          'p',
          { class: 'warning', role: 'alert' },
          'This request contains hidden characters, shown as \\u{…}: read it carefully.',
        )
      : null,
    h(
      'dl',
      { class: 'facts' },
      rows.map(([label, value]) => [h('dt', null, label), h('dd', { data: { field: label } }, value)]),
    ),
  );
}

/** The decision form of one request: built once per selection, so a refresh never drops the comment. */
function decisionForm(
  context: Context,
  request: ApprovalRequest,
  result: HTMLElement,
  onDecided: () => Promise<void>,
): HTMLElement {
  const { api, session } = context;
  const comment = h('textarea', {
    name: 'comment',
    rows: 2,
    placeholder: 'why (kept in the audit log)',
    'aria-label': 'comment',
  });
  const own = request.user === session.user || request.refusal?.code === 'self_approval';
  // Only what the server would accept is offered: deciding needs the approver role (admin alone
  // does not decide: separation of duties) and a confirmed second factor.
  const canDecide = context.hasRole('approver');
  const hasFactor = session.factors.totp || session.factors.webauthn;

  const decide = async (approve: boolean, buttons: HTMLButtonElement[]) => {
    result.textContent = '';
    result.className = 'decision-result';
    let stepUp: StepUp | undefined;
    if (approve && request.step_up) {
      stepUp = await askStepUp(api, session, `Approving ${request.tool}`);
      if (!stepUp) return;
    }
    for (const button of buttons) button.disabled = true;
    try {
      const body = {
        approve,
        ...(comment.value ? { comment: comment.value } : {}),
        ...(stepUp ? { stepUp } : {}),
      };
      const { approval } = await api.post<{ approval: ApprovalRequest }>(
        `/api/approvals/${encodeURIComponent(request.id)}/decide`,
        body,
      );
      result.textContent = `${approval.status === 'approved' ? 'approved' : 'denied'}: the decision is in the audit log`;
      result.classList.add('ok');
      comment.value = '';
      await onDecided();
    } catch (error) {
      result.classList.add('refused');
      if (error instanceof ApiError && (error.code === 'store_unavailable' || error.code === 'unreachable')) {
        // Not a refusal: the outcome is unknown until the store answers again (the banner says
        // so, and the page re-reads the request then). The comment stays as typed.
        result.textContent = `not confirmed: ${error.message}`;
      } else {
        result.textContent =
          error instanceof ApiError
            ? `refused (${error.code}): ${REFUSALS[error.code] ?? error.message}`
            : String(error);
      }
      for (const button of buttons) button.disabled = false;
    }
  };

  if (request.status !== 'pending') return h('div', { class: 'decision' });
  if (!canDecide)
    return h(
      'div',
      { class: 'decision' },
      h('p', { class: 'muted decision-note' }, 'you need the approver role to decide'),
    );
  if (!hasFactor)
    return h(
      'div',
      { class: 'decision' },
      h(
        'p',
        { class: 'muted decision-note' },
        'enrol a second factor on the ',
        h('a', { href: '/account' }, 'Account page'),
        ' before deciding requests',
      ),
    );
  if (request.refusal?.code === 'not_approver')
    return h(
      'div',
      { class: 'decision' },
      h(
        'p',
        { class: 'muted decision-note not-approver', role: 'note' },
        `You are not among this request's approvers (${request.approvers.join(', ')}): one of them decides it.`,
      ),
    );
  const approveButton = h('button', { type: 'button', class: 'primary approve', disabled: own });
  approveButton.textContent = request.step_up ? 'Approve with step-up' : 'Approve';
  const denyButton = h('button', { type: 'button', class: 'danger deny', disabled: own }, 'Deny');
  const buttons = [approveButton, denyButton];
  approveButton.addEventListener('click', () => void decide(true, buttons));
  denyButton.addEventListener('click', () => void decide(false, buttons));
  return h(
    'div',
    { class: 'decision' },
    own
      ? h(
          'p',
          { class: 'warning self-approval', role: 'note' },
          `You are ${session.user}, the user this call acts for: separation of duties means another approver must decide it.`,
        )
      : null,
    h('label', { class: 'comment' }, 'Comment', comment),
    h('div', { class: 'actions' }, buttons),
  );
}

export const approvalsPage: PageFactory = (context) => {
  const { api } = context;
  let filter: StatusFilter = 'pending';
  const linked = location.pathname.split('/')[2];
  let selected: string | undefined = linked ? decodeURIComponent(linked) : undefined;
  let formFor: string | undefined;

  const tabs = h('nav', { class: 'tabs', 'aria-label': 'status' });
  const list = h('div', { class: 'approval-list' });
  const detailFacts = h('div');
  const detailForm = h('div');
  const result = h('p', { class: 'decision-result', role: 'alert' });
  const detail = h(
    'section',
    { class: 'panel approval-detail' },
    h('h2', null, 'Request'),
    detailFacts,
    detailForm,
    result,
  );
  const element = h(
    'div',
    { class: 'page approvals' },
    h(
      'div',
      { class: 'split' },
      h('section', { class: 'panel' }, h('h2', null, 'Requests'), tabs, list),
      detail,
    ),
  );

  const drawTabs = () =>
    replace(
      tabs,
      STATUSES.map((status) =>
        h(
          'button',
          {
            type: 'button',
            class: status === filter ? 'tab active' : 'tab',
            'aria-pressed': String(status === filter),
            on: {
              click: () => {
                filter = status;
                drawTabs();
                void refresh();
              },
            },
          },
          status,
        ),
      ),
    );

  const select = (id: string) => {
    selected = id;
    history.replaceState(null, '', `/approvals/${encodeURIComponent(id)}`);
    void refresh();
  };

  const row = (request: ApprovalRequest) =>
    h(
      'tr',
      {
        class: request.id === selected ? 'selectable selected' : 'selectable',
        tabindex: 0,
        data: { id: request.id, tool: request.tool },
        on: {
          click: () => select(request.id),
          keydown: (event) => {
            if (event.key === 'Enter') select(request.id);
          },
        },
      },
      h('td', null, escapedText(request.tool)),
      h('td', null, escapedText(request.agent)),
      h('td', null, escapedText(request.user)),
      h(
        'td',
        null,
        chip(request.status, `approval-${request.status}`),
        request.step_up ? chip('step-up', 'stepup') : null,
      ),
      h('td', null, time(request.status === 'pending' ? request.expires_at : request.created_at)),
    );

  const refresh = keepOnError(async () => {
    const { approvals } = await api.get<{ approvals: ApprovalRequest[] }>(
      '/api/approvals',
      filter === 'all' ? {} : { status: filter },
    );
    replace(
      list,
      table(
        ['tool', 'agent', 'user', 'status', filter === 'pending' ? 'expires' : 'created'],
        approvals.map(row),
        `no ${filter === 'all' ? '' : `${filter} `}requests`,
      ),
    );
    if (selected === undefined) selected = approvals[0]?.id;
    if (selected === undefined) {
      replace(detailFacts, h('p', { class: 'muted' }, 'select a request'));
      replace(detailForm);
      formFor = undefined;
      return;
    }
    const { approval } = await api.get<{ approval: ApprovalRequest }>(
      `/api/approvals/${encodeURIComponent(selected)}`,
    );
    replace(detailFacts, facts(approval));
    // The form is rebuilt only when the selection or the request's status changes.
    const key = `${approval.id}:${approval.status}`;
    if (formFor !== key) {
      if (formFor?.split(':')[0] !== approval.id) {
        result.textContent = '';
        result.className = 'decision-result';
      }
      replace(detailForm, decisionForm(context, approval, result, refresh));
      formFor = key;
    }
    for (const tr of list.querySelectorAll('tr.selectable')) {
      tr.classList.toggle('selected', tr.getAttribute('data-id') === approval.id);
    }
  });
  drawTabs();
  return { element, refresh };
};

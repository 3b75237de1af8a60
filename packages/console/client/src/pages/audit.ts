// The audit explorer: search the tamper-evident log with filters, page through it, read one event
// in full, and verify the whole log against its signed checkpoints with one click.
import { chip, h, replace, table, time } from '../dom.js';
import { escapedJson, escapedText } from '../escape.js';
import { errorText, keepOnError, type PageFactory } from '../page.js';
import type { StoredEvent, VerifyResult } from '../types.js';

const PAGE_SIZE = 25;
const FILTERS = ['agent', 'user', 'tool', 'decision', 'outcome', 'kind', 'since', 'until', 'q'] as const;
type FilterName = (typeof FILTERS)[number];
const CHOICES: Partial<Record<FilterName, readonly string[]>> = {
  decision: ['allow', 'deny', 'approve', 'confirm'],
  outcome: [
    'allowed',
    'denied',
    'pending',
    'approved',
    'rejected',
    'failed',
    'timed_out',
    'interrupted',
    'error',
  ],
  kind: ['call', 'approval', 'exception', 'policy_change', 'alert', 'gap', 'revocation'],
};
const LABELS: Record<FilterName, string> = {
  agent: 'Agent',
  user: 'User',
  tool: 'Tool',
  decision: 'Decision',
  outcome: 'Outcome',
  kind: 'Kind',
  since: 'Since',
  until: 'Until',
  q: 'Search text',
};

export const auditPage: PageFactory = ({ api }) => {
  const params = new URLSearchParams(location.search);
  let applied: Partial<Record<FilterName, string>> = {};
  /** Newest first: the `before` cursor of each page shown so far; the last one is the current page's. */
  let cursors: Array<number | undefined> = [undefined];
  let next: number | undefined;
  const linkedText = location.pathname.split('/')[2] ?? params.get('seq');
  const linked = linkedText ? Number(linkedText) : NaN;
  let selected = Number.isInteger(linked) ? linked : undefined;

  const inputs = {} as Record<FilterName, HTMLInputElement | HTMLSelectElement>;
  for (const name of FILTERS) {
    const choices = CHOICES[name];
    inputs[name] = choices
      ? h(
          'select',
          { name },
          h('option', { value: '' }, 'any'),
          choices.map((choice) => h('option', { value: choice }, choice)),
        )
      : h('input', {
          name,
          type: name === 'since' || name === 'until' ? 'datetime-local' : 'search',
          ...(name === 'since' || name === 'until' ? { step: 1 } : {}),
          placeholder: name === 'tool' ? 'server/tool' : name === 'q' ? 'any text in the event' : '',
        });
    const initial = params.get(name);
    if (initial) inputs[name].value = initial;
  }

  const form = h(
    'form',
    {
      class: 'filters',
      on: {
        submit: (event) => {
          event.preventDefault();
          applied = readFilters();
          cursors = [undefined];
          void refresh();
        },
      },
    },
    FILTERS.map((name) => h('label', null, LABELS[name], inputs[name])),
    h(
      'div',
      { class: 'filter-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h(
        'button',
        {
          type: 'reset',
          on: {
            click: () => {
              applied = {};
              cursors = [undefined];
              queueMicrotask(() => void refresh());
            },
          },
        },
        'Clear',
      ),
    ),
  );

  const readFilters = () => {
    const filters: Partial<Record<FilterName, string>> = {};
    for (const name of FILTERS) {
      const value = inputs[name].value.trim();
      if (!value) continue;
      // datetime-local has no zone: it is the user's local time, sent as ISO.
      filters[name] = name === 'since' || name === 'until' ? new Date(value).toISOString() : value;
    }
    return filters;
  };

  const verifyResult = h('div', { class: 'verify-result', role: 'status', 'aria-live': 'polite' });
  const verifyButton = h('button', { type: 'button', class: 'primary verify' }, 'Verify integrity');
  verifyButton.addEventListener('click', () => void verify());
  const results = h('div');
  const pager = h('div', { class: 'pager' });
  const detail = h('div', { class: 'event-detail' });
  const detailTitle = h('h2', null, 'Event');
  const closeDrawer = () => {
    drawer.hidden = true;
    selected = undefined;
    history.replaceState(null, '', '/audit');
    for (const tr of results.querySelectorAll('tr.selected')) tr.classList.remove('selected');
  };
  // The event opens in a drawer over the list, so the table keeps its full width.
  const drawer = h(
    'aside',
    { class: 'drawer panel', hidden: true, 'aria-label': 'event detail' },
    h(
      'div',
      { class: 'drawer-head' },
      detailTitle,
      h(
        'button',
        { type: 'button', class: 'small close', 'aria-label': 'close', on: { click: closeDrawer } },
        'Close',
      ),
    ),
    detail,
  );
  drawer.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeDrawer();
  });
  const element = h(
    'div',
    { class: 'page audit' },
    h(
      'section',
      { class: 'panel verify-panel' },
      h('h2', null, 'Integrity'),
      h(
        'p',
        { class: 'muted' },
        'Checks every event against the Merkle tree and the signed checkpoints: any edit, deletion, reordering or truncation shows.',
      ),
      verifyButton,
      verifyResult,
    ),
    h('section', { class: 'panel' }, h('h2', null, 'Search'), form),
    h('section', { class: 'panel' }, h('h2', null, 'Events'), results, pager),
    drawer,
  );

  async function verify() {
    verifyButton.disabled = true;
    replace(verifyResult, h('span', { class: 'muted' }, 'verifying…'));
    try {
      const result = await api.post<VerifyResult>('/api/audit/verify');
      replace(
        verifyResult,
        result.ok
          ? h(
              'div',
              { class: 'verify-ok' },
              chip('verified', 'ok'),
              ` ${result.size} events; the log matches its signed checkpoints`,
              result.root ? h('div', { class: 'muted' }, 'root ', h('code', null, result.root)) : null,
            )
          : h(
              'div',
              { class: 'verify-failed' },
              chip('not verified', 'failed'),
              ` ${result.size} events`,
              h(
                'ul',
                null,
                result.problems.map((problem) => h('li', null, escapedText(problem))),
              ),
            ),
      );
    } catch (error) {
      replace(
        verifyResult,
        h('div', { class: 'verify-failed' }, chip('could not verify', 'failed'), ' ', errorText(error)),
      );
    } finally {
      verifyButton.disabled = false;
    }
  }

  const showEvent = async (seq: number) => {
    selected = seq;
    history.replaceState(null, '', `/audit/${seq}`);
    drawer.hidden = false;
    detailTitle.textContent = `Event #${seq}`;
    for (const tr of results.querySelectorAll('tr[data-seq]'))
      tr.classList.toggle('selected', tr.getAttribute('data-seq') === String(seq));
    try {
      const { event } = await api.get<{ event: StoredEvent }>(`/api/audit/${seq}`);
      replace(
        detail,
        h(
          'dl',
          { class: 'facts' },
          h('dt', null, 'seq'),
          h('dd', null, String(event.seq)),
          h('dt', null, 'time'),
          h('dd', null, time(event.time)),
          h('dt', null, 'kind'),
          h('dd', null, chip(event.kind, `kind-${event.kind}`)),
          event.decision
            ? [h('dt', null, 'decision'), h('dd', null, chip(event.decision, `verdict-${event.decision}`))]
            : null,
          event.outcome
            ? [h('dt', null, 'outcome'), h('dd', null, chip(event.outcome, `outcome-${event.outcome}`))]
            : null,
        ),
        escapedJson(event),
      );
    } catch (error) {
      replace(detail, h('p', { class: 'form-error' }, errorText(error)));
    }
  };

  const row = (event: StoredEvent) =>
    h(
      'tr',
      {
        class: event.seq === selected ? 'selectable selected' : 'selectable',
        tabindex: 0,
        data: { seq: String(event.seq) },
        on: {
          click: () => void showEvent(event.seq),
          keydown: (key) => {
            if (key.key === 'Enter') void showEvent(event.seq);
          },
        },
      },
      h('td', { class: 'num' }, String(event.seq)),
      h('td', null, time(event.time)),
      h('td', null, chip(event.kind, `kind-${event.kind}`)),
      h('td', null, event.actor.agent ? escapedText(event.actor.agent) : '-'),
      h('td', null, event.actor.user ? escapedText(event.actor.user) : '-'),
      h('td', null, event.tool ? escapedText(event.tool) : '-'),
      h('td', null, event.decision ? chip(event.decision, `verdict-${event.decision}`) : '-'),
      h('td', null, event.outcome ? chip(event.outcome, `outcome-${event.outcome}`) : '-'),
    );

  const pageButton = (label: string, enabled: boolean, go: () => void) =>
    h('button', { type: 'button', disabled: !enabled, on: { click: go } }, label);

  const refresh = keepOnError(async () => {
    const before = cursors[cursors.length - 1];
    const response = await api.get<{ events: StoredEvent[]; next?: number | null }>('/api/audit', {
      ...applied,
      order: 'desc',
      before,
      limit: PAGE_SIZE,
    });
    next = response.next ?? undefined;
    replace(
      results,
      table(
        ['seq', 'time', 'kind', 'agent', 'user', 'tool', 'decision', 'outcome'],
        response.events.map(row),
        'no events match',
      ),
    );
    replace(
      pager,
      pageButton('‹ Newer', cursors.length > 1, () => {
        cursors.pop();
        void refresh();
      }),
      h('span', { class: 'muted' }, `page ${cursors.length}`),
      pageButton('Older ›', next !== undefined, () => {
        cursors.push(next);
        void refresh();
      }),
    );
    if (selected !== undefined && !detail.hasChildNodes()) await showEvent(selected);
  });
  applied = readFilters();
  return { element, refresh };
};

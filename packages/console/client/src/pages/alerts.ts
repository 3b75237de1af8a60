// Alerts: anomaly and limit alerts as the audit log records them (`kind: alert`).
import { chip, h, replace, table, time } from '../dom.js';
import { escapedText } from '../escape.js';
import { keepOnError, type PageFactory } from '../page.js';
import type { StoredEvent } from '../types.js';

export const ALERT_HEADERS = ['time', 'alert', 'agent or user', 'tool', 'what happened', 'seq'] as const;

function alertName(event: StoredEvent): string {
  const name = event.detail?.alert;
  return typeof name === 'string' ? name : (event.reasons?.[0]?.code ?? 'alert');
}

function alertMessage(event: StoredEvent): string {
  const message = event.detail?.message;
  if (typeof message === 'string') return message;
  const reasons = (event.reasons ?? []).map((reason) => reason.message).join('; ');
  if (reasons) return reasons;
  // Console sign-in alerts carry who and from where.
  const remote = event.detail?.remote;
  const who = [event.actor.user, typeof remote === 'string' ? `from ${remote}` : undefined, event.outcome]
    .filter((part) => part !== undefined)
    .join(' ');
  return who || '-';
}

export function alertRow(event: StoredEvent): HTMLTableRowElement {
  return h(
    'tr',
    { data: { seq: String(event.seq) } },
    h('td', null, time(event.time)),
    h('td', null, chip(alertName(event), 'alert')),
    h('td', null, escapedText(event.actor.agent ?? event.actor.user ?? '-')),
    h('td', null, event.tool ? escapedText(event.tool) : '-'),
    h('td', { class: 'text' }, escapedText(alertMessage(event))),
    h('td', { class: 'num' }, h('a', { href: `/audit/${event.seq}`, class: 'seq-link' }, `#${event.seq}`)),
  );
}

export const alertsPage: PageFactory = ({ api }) => {
  const list = h('div');
  const element = h(
    'div',
    { class: 'page alerts' },
    h('section', { class: 'panel' }, h('h2', null, 'Alerts'), list),
  );
  const refresh = keepOnError(async () => {
    const { alerts } = await api.get<{ alerts: StoredEvent[] }>('/api/alerts');
    replace(list, table(ALERT_HEADERS, alerts.map(alertRow), 'no alerts'));
  });
  return { element, refresh };
};

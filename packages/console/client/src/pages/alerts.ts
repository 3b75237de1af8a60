// Alerts: anomaly and limit alerts as the audit log records them (`kind: alert`).
import { chip, h, replace, table, time } from '../dom.js';
import { escapedText } from '../escape.js';
import { keepOnError, type PageFactory } from '../page.js';
import type { StoredEvent } from '../types.js';

export const ALERT_HEADERS = ['time', 'alert', 'agent', 'tool', 'what happened', 'seq'] as const;

function alertName(event: StoredEvent): string {
  const name = event.detail?.alert;
  return typeof name === 'string' ? name : (event.reasons?.[0]?.code ?? 'alert');
}

function alertMessage(event: StoredEvent): string {
  const message = event.detail?.message;
  if (typeof message === 'string') return message;
  return (event.reasons ?? []).map((reason) => reason.message).join('; ') || '-';
}

export function alertRow(event: StoredEvent): HTMLTableRowElement {
  return h(
    'tr',
    { data: { seq: String(event.seq) } },
    h('td', null, time(event.time)),
    h('td', null, chip(alertName(event), 'alert')),
    h('td', null, event.actor.agent ? escapedText(event.actor.agent) : '-'),
    h('td', null, event.tool ? escapedText(event.tool) : '-'),
    h('td', null, escapedText(alertMessage(event))),
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

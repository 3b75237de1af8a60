// Overview: the posture score per pillar, decisions over time, and the latest alerts.
import { decisionChart, pillarBars, scoreBand } from '../charts.js';
import { chip, h, replace, table } from '../dom.js';
import { keepOnError, type PageFactory } from '../page.js';
import { pillarScores, type Overview } from '../types.js';
import { alertRow, ALERT_HEADERS } from './alerts.js';

export const overviewPage: PageFactory = ({ api, navigate }) => {
  const stats = h('div', { class: 'stats' });
  const pillars = h('div', { class: 'chart-box' });
  const decisions = h('div', { class: 'chart-box' });
  const alerts = h('div');
  const element = h(
    'div',
    { class: 'page overview' },
    stats,
    h(
      'div',
      { class: 'grid-2' },
      h('section', { class: 'panel' }, h('h2', null, 'Score per pillar'), pillars),
      h('section', { class: 'panel' }, h('h2', null, 'Decisions over time'), decisions),
    ),
    h('section', { class: 'panel' }, h('h2', null, 'Recent alerts'), alerts),
  );

  const stat = (label: string, value: string | number, kind: string, href?: string) =>
    h(
      href ? 'a' : 'div',
      {
        class: `stat stat-${kind}`,
        ...(href
          ? {
              href,
              on: {
                click: (event: MouseEvent) => {
                  event.preventDefault();
                  navigate(href);
                },
              },
            }
          : {}),
      },
      h('span', { class: 'stat-value', data: { stat: label } }, String(value)),
      h('span', { class: 'stat-label' }, label),
    );

  const refresh = keepOnError(async () => {
    const overview = await api.get<Overview>('/api/overview');
    const scores = pillarScores(overview.scores.pillars);
    replace(
      stats,
      stat(
        'posture score',
        overview.scores.overall,
        `band-${scoreBand(overview.scores.overall)}`,
        '/findings',
      ),
      stat(
        'pending approvals',
        overview.pending_approvals,
        overview.pending_approvals > 0 ? 'attention' : 'calm',
        '/approvals',
      ),
      stat('audit events', overview.audit_size, 'calm', '/audit'),
      stat(
        'recent alerts',
        overview.alerts.length,
        overview.alerts.length > 0 ? 'attention' : 'calm',
        '/alerts',
      ),
    );
    replace(pillars, pillarBars(scores));
    const outcomes = Object.entries(overview.outcomes ?? {}).sort(([, a], [, b]) => b - a);
    replace(
      decisions,
      decisionChart(overview.decisions),
      outcomes.length > 0
        ? h(
            'div',
            { class: 'outcomes' },
            h('span', { class: 'muted' }, 'outcomes, last 24 h '),
            outcomes.map(([outcome, count]) => chip(`${outcome} ${count}`, `outcome-${outcome}`)),
          )
        : null,
    );
    replace(alerts, table(ALERT_HEADERS, overview.alerts.slice(0, 10).map(alertRow), 'no alerts'));
  });
  return { element, refresh };
};

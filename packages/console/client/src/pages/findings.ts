// Findings: what the posture assessment found in the policy and the evidence, each with its share
// of the score, where it was found, the OWASP / ASI / ATLAS ids, and how to fix it.
import { pillarBars, scoreBand } from '../charts.js';
import { chip, h, replace } from '../dom.js';
import { escapedText } from '../escape.js';
import { keepOnError, type PageFactory } from '../page.js';
import { pillarScores, type Finding, type Scores } from '../types.js';

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low', 'info'];
const SEVERITY_STAT: Record<string, string> = {
  critical: 'stat-alarm',
  high: 'stat-alarm',
  medium: 'stat-attention',
};

function findingCard(finding: Finding): HTMLElement {
  const ids = [...finding.owasp, ...finding.asi, ...finding.atlas];
  return h(
    'article',
    { class: `finding severity-${finding.severity}`, data: { id: finding.id } },
    h(
      'header',
      null,
      chip(finding.severity, `severity-${finding.severity}`),
      h('code', { class: 'finding-id' }, finding.id),
      h('h3', null, finding.title),
      h('span', { class: 'muted penalty' }, finding.score || `−${finding.penalty} ${finding.pillar}`),
    ),
    h(
      'div',
      { class: 'ids' },
      chip(finding.pillar, 'pillar'),
      ids.map((id) => h('code', { class: 'taxonomy' }, id)),
    ),
    h(
      'ul',
      { class: 'evidence' },
      finding.evidence.map((item) =>
        h(
          'li',
          null,
          h('code', null, item.path ? `${item.file} ${item.path}` : item.file),
          ' ',
          escapedText(item.message),
        ),
      ),
    ),
    h('div', { class: 'remediation' }, h('strong', null, 'Remediation '), finding.remediation),
  );
}

export const findingsPage: PageFactory = ({ api }) => {
  const score = h('div', { class: 'stats' });
  const pillars = h('div', { class: 'chart-box' });
  const list = h('div', { class: 'findings' });
  const element = h(
    'div',
    { class: 'page findings-page' },
    h(
      'div',
      { class: 'grid-2' },
      h('section', { class: 'panel' }, h('h2', null, 'Score'), score),
      h('section', { class: 'panel' }, h('h2', null, 'Score per pillar'), pillars),
    ),
    h('section', { class: 'panel' }, h('h2', null, 'Findings'), list),
  );
  const refresh = keepOnError(async () => {
    const { findings, scores } = await api.get<{ findings: Finding[]; scores: Scores }>('/api/findings');
    const bySeverity = SEVERITY_ORDER.map(
      (severity) => [severity, findings.filter((f) => f.severity === severity).length] as const,
    );
    replace(
      score,
      h(
        'div',
        { class: `stat stat-band-${scoreBand(scores.overall)}` },
        h('span', { class: 'stat-value', data: { stat: 'overall' } }, String(scores.overall)),
        h('span', { class: 'stat-label' }, 'overall'),
      ),
      bySeverity
        .filter(([, count]) => count > 0)
        .map(([severity, count]) =>
          h(
            'div',
            { class: `stat ${SEVERITY_STAT[severity] ?? 'stat-calm'}` },
            h('span', { class: 'stat-value' }, String(count)),
            h('span', { class: 'stat-label' }, severity),
          ),
        ),
    );
    replace(pillars, pillarBars(pillarScores(scores.pillars)));
    const sorted = [...findings].sort(
      (a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity),
    );
    replace(
      list,
      sorted.length > 0
        ? sorted.map(findingCard)
        : h('p', { class: 'muted' }, 'no findings: every check passes'),
    );
  });
  return { element, refresh };
};

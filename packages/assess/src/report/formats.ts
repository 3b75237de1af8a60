// One scan report, five renderings: a terminal table, JSON, SARIF 2.1.0, Markdown and a
// self-contained HTML page (inline SVG charts, no script, no network).
import { relative } from 'node:path';
import { PILLARS, SEVERITIES, type Severity } from '../checks/types.js';
import type { ScanReport } from '../scan/scan.js';
import type { Finding } from './score.js';

export const FORMATS = ['table', 'json', 'sarif', 'md', 'html'] as const;
export type Format = (typeof FORMATS)[number];

const VERSION = '0.1.0';
const INFO_URI = 'https://github.com/posture-dev/posture';

export function render(report: ScanReport, format: Format): string {
  switch (format) {
    case 'table':
      return toTable(report);
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'sarif':
      return `${JSON.stringify(toSarif(report), null, 2)}\n`;
    case 'md':
      return toMarkdown(report);
    case 'html':
      return toHtml(report);
  }
}

function where(report: ScanReport, file: string): string {
  const rel = relative(report.root, file);
  return rel === '' ? '.' : rel.startsWith('..') ? file : rel;
}

function ids(f: Finding): string {
  return [...f.owasp, ...f.asi, ...f.atlas].join(' ');
}

function counts(report: ScanReport): Record<Severity, number> {
  const out = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  for (const f of report.findings) out[f.severity]++;
  return out;
}

function summary(report: ScanReport): string {
  const c = counts(report);
  return `${report.files.length} configuration file(s), ${report.servers} server(s), ${report.tools} tool(s), ${report.checks} checks: ${[
    ...SEVERITIES,
  ]
    .reverse()
    .map((s) => `${c[s]} ${s}`)
    .join(', ')}`;
}

export function toTable(report: ScanReport): string {
  const lines = [`posture scan of ${report.root}`, summary(report), ''];
  lines.push(
    `score ${report.scores.overall}/100  ${PILLARS.map((p) => `${p} ${report.scores.pillars[p]}`).join('  ')}`,
    '',
  );
  if (report.findings.length === 0) lines.push('no findings');
  const rows = report.findings.map((f) => {
    const first = f.evidence[0]!;
    const more = f.evidence.length > 1 ? ` (+${f.evidence.length - 1} more)` : '';
    return [
      f.severity.toUpperCase(),
      f.id,
      f.pillar,
      `-${f.penalty}`,
      f.title,
      `${where(report, first.file)}: ${first.message}${more}`,
    ];
  });
  if (rows.length > 0) {
    const header = ['SEVERITY', 'ID', 'PILLAR', 'SCORE', 'TITLE', 'EVIDENCE'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === 5 ? 0 : r[i]!.length))));
    const fmt = (r: string[]) => r.map((cell, i) => (i === 5 ? cell : cell.padEnd(widths[i]!))).join('  ');
    lines.push(fmt(header), ...rows.map(fmt));
  }
  lines.push('', `score: ${report.formula}`);
  return `${lines.join('\n')}\n`;
}

const LEVEL: Record<Severity, 'error' | 'warning' | 'note' | 'none'> = {
  critical: 'error',
  high: 'error',
  medium: 'warning',
  low: 'note',
  info: 'none',
};
const SECURITY_SEVERITY: Record<Severity, string> = {
  critical: '9.5',
  high: '8.0',
  medium: '5.5',
  low: '3.0',
  info: '0.0',
};

/** SARIF 2.1.0 as GitHub code scanning reads it: rules with help and security-severity, results with file locations. */
export function toSarif(report: ScanReport): Record<string, unknown> {
  const rules = report.findings.map((f) => ({
    id: f.id,
    name: f.title.replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ?? '').toUpperCase()),
    shortDescription: { text: f.title },
    fullDescription: { text: `${f.title} (${f.pillar}; ${ids(f)})` },
    help: {
      text: f.remediation,
      markdown: `**Remediation.** ${f.remediation}\n\nMaps to ${ids(f)}. Score: ${f.score}.`,
    },
    defaultConfiguration: { level: LEVEL[f.severity] },
    properties: {
      tags: ['security', f.pillar, ...f.owasp, ...f.asi, ...f.atlas],
      'security-severity': SECURITY_SEVERITY[f.severity],
      precision: 'high',
    },
  }));
  const results = report.findings.flatMap((f, ruleIndex) =>
    f.evidence.map((e) => {
      const uri = where(report, e.file);
      return {
        ruleId: f.id,
        ruleIndex,
        level: LEVEL[f.severity],
        message: {
          text: `${e.message}${e.path !== undefined ? ` (at \`${e.path}\`)` : ''}. ${f.remediation}`,
        },
        locations: [
          {
            physicalLocation: {
              artifactLocation: {
                uri: uri.startsWith('/') ? `file://${uri}` : uri,
                ...(uri.startsWith('/') ? {} : { uriBaseId: '%SRCROOT%' }),
              },
            },
          },
        ],
        partialFingerprints: { 'postureFinding/v1': `${f.id}:${uri}:${e.path ?? ''}` },
      };
    }),
  );
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'posture', version: VERSION, informationUri: INFO_URI, rules } },
        results,
        properties: { score: report.scores, formula: report.formula },
      },
    ],
  };
}

const md = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function toMarkdown(report: ScanReport): string {
  const lines = [
    `# Posture assessment`,
    '',
    `Scanned \`${report.root}\` at ${report.generated_at}: ${summary(report)}.`,
    '',
  ];
  lines.push(`**Score: ${report.scores.overall}/100**`, '', '| Pillar | Score |', '| --- | ---: |');
  for (const p of PILLARS) lines.push(`| ${p} | ${report.scores.pillars[p]} |`);
  lines.push('', `Formula: ${report.formula}.`, '', '## Findings', '');
  if (report.findings.length === 0) lines.push('No findings.');
  for (const f of report.findings) {
    lines.push(
      `### ${f.id} ${md(f.title)} (${f.severity})`,
      '',
      `Pillar: ${f.pillar} · Score: ${f.score} · Maps to: ${ids(f)}`,
      '',
    );
    for (const e of f.evidence)
      lines.push(
        `- \`${md(where(report, e.file))}\`${e.path !== undefined ? ` at \`${md(e.path)}\`` : ''}: ${md(e.message)}`,
      );
    lines.push('', `Remediation: ${f.remediation}`, '');
  }
  lines.push(
    '## Inventory',
    '',
    '| server | client | file | launch or URL | via gateway |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const server of report.inventory.servers) {
    lines.push(
      `| ${md(server.name)} | ${server.client} | \`${md(where(report, server.file))}\` | \`${md(server.launch ?? server.url ?? '')}\` | ${server.gateway ? 'yes' : 'no'} |`,
    );
  }
  lines.push(
    '',
    `${report.inventory.tools.length} tool(s) known from policies, the gateway inventory and \`--connect\`.`,
  );
  return `${lines.join('\n')}\n`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const COLOR: Record<Severity, string> = {
  critical: '#7f1d1d',
  high: '#dc2626',
  medium: '#f59e0b',
  low: '#3b82f6',
  info: '#6b7280',
};

function pillarChart(report: ScanReport): string {
  const bar = 22;
  const rows = PILLARS.map((p, i) => {
    const value = report.scores.pillars[p];
    const y = i * (bar + 8);
    const fill = value >= 80 ? '#16a34a' : value >= 50 ? '#f59e0b' : '#dc2626';
    return `<text x="0" y="${y + 16}" font-size="13">${esc(p)}</text><rect x="110" y="${y}" width="300" height="${bar}" fill="#e5e7eb"/><rect x="110" y="${y}" width="${value * 3}" height="${bar}" fill="${fill}"><title>${esc(p)}: ${value}</title></rect><text x="418" y="${y + 16}" font-size="13">${value}</text>`;
  });
  return `<svg role="img" aria-label="score per pillar" width="460" height="${PILLARS.length * (bar + 8)}" xmlns="http://www.w3.org/2000/svg">${rows.join('')}</svg>`;
}

function overallChart(report: ScanReport): string {
  const r = 52;
  const length = 2 * Math.PI * r;
  const value = report.scores.overall;
  return `<svg role="img" aria-label="overall score ${value}" width="140" height="140" viewBox="0 0 140 140" xmlns="http://www.w3.org/2000/svg"><circle cx="70" cy="70" r="${r}" fill="none" stroke="#e5e7eb" stroke-width="16"/><circle cx="70" cy="70" r="${r}" fill="none" stroke="${value >= 80 ? '#16a34a' : value >= 50 ? '#f59e0b' : '#dc2626'}" stroke-width="16" stroke-dasharray="${((length * value) / 100).toFixed(1)} ${length.toFixed(1)}" transform="rotate(-90 70 70)"/><text x="70" y="78" text-anchor="middle" font-size="28" font-weight="bold">${value}</text></svg>`;
}

function severityChart(report: ScanReport): string {
  const c = counts(report);
  const max = Math.max(1, ...Object.values(c));
  const bars = [...SEVERITIES].reverse().map((s, i) => {
    const h = Math.round((c[s] / max) * 100);
    return `<rect x="${i * 60 + 10}" y="${110 - h}" width="40" height="${h}" fill="${COLOR[s]}"><title>${s}: ${c[s]}</title></rect><text x="${i * 60 + 30}" y="${104 - h}" text-anchor="middle" font-size="12">${c[s]}</text><text x="${i * 60 + 30}" y="128" text-anchor="middle" font-size="11">${s}</text>`;
  });
  return `<svg role="img" aria-label="findings by severity" width="310" height="135" xmlns="http://www.w3.org/2000/svg">${bars.join('')}</svg>`;
}

export function toHtml(report: ScanReport): string {
  const findings = report.findings
    .map(
      (
        f,
      ) => `<section class="finding"><h3><span class="sev" style="background:${COLOR[f.severity]}">${f.severity}</span> ${esc(f.id)} ${esc(f.title)}</h3>
<p class="meta">Pillar ${esc(f.pillar)} · score ${esc(f.score)} · ${esc(ids(f))}</p>
<ul>${f.evidence.map((e) => `<li><code>${esc(where(report, e.file))}</code>${e.path !== undefined ? ` at <code>${esc(e.path)}</code>` : ''}: ${esc(e.message)}</li>`).join('')}</ul>
<p><strong>Remediation.</strong> ${esc(f.remediation)}</p></section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Posture assessment: ${report.scores.overall}/100</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#111827}code{background:#f3f4f6;padding:0 .2em}.charts{display:flex;gap:2rem;align-items:center;flex-wrap:wrap}.sev{color:#fff;border-radius:4px;padding:0 .4em;font-size:.8em;text-transform:uppercase}.finding{border-top:1px solid #e5e7eb}.meta{color:#4b5563}table{border-collapse:collapse}td,th{border:1px solid #e5e7eb;padding:.2em .5em;text-align:left}</style>
</head><body>
<h1>Posture assessment</h1>
<p>Scanned <code>${esc(report.root)}</code> at ${esc(report.generated_at)}: ${esc(summary(report))}.</p>
<div class="charts">${overallChart(report)}${pillarChart(report)}${severityChart(report)}</div>
<p class="meta">Score: ${esc(report.formula)}.</p>
<h2>Findings</h2>
${findings || '<p>No findings.</p>'}
<h2>Inventory</h2>
<table><thead><tr><th>server</th><th>client</th><th>file</th><th>launch or URL</th><th>via gateway</th></tr></thead><tbody>
${report.inventory.servers.map((s) => `<tr><td>${esc(s.name)}</td><td>${esc(s.client)}</td><td><code>${esc(where(report, s.file))}</code></td><td><code>${esc(s.launch ?? s.url ?? '')}</code></td><td>${s.gateway ? 'yes' : 'no'}</td></tr>`).join('\n')}
</tbody></table>
<p class="meta">${report.inventory.tools.length} tool(s) known from policies, the gateway inventory and <code>--connect</code>.</p>
</body></html>
`;
}

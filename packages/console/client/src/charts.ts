// Charts drawn as inline SVG: no library, no script in the markup, colours from the stylesheet.
import { h, s } from './dom.js';
import type { DecisionBucket, PillarScore } from './types.js';

const VERDICTS = ['allow', 'confirm', 'approve', 'deny'] as const;

/** The band a score falls in, for its colour. */
export function scoreBand(score: number): 'good' | 'fair' | 'poor' {
  return score >= 80 ? 'good' : score >= 50 ? 'fair' : 'poor';
}

/** Score per pillar (0–100) as horizontal bars. */
export function pillarBars(pillars: readonly PillarScore[]): SVGSVGElement {
  const row = 30;
  const labelWidth = 110;
  const barWidth = 300;
  const width = labelWidth + barWidth + 50;
  const height = Math.max(row * pillars.length, row);
  return s(
    'svg',
    {
      class: 'chart pillar-chart',
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label': 'score per pillar',
    },
    pillars.map((pillar, index) => {
      const y = index * row;
      const score = Math.max(0, Math.min(100, pillar.score));
      return s(
        'g',
        { class: `bar band-${scoreBand(score)}` },
        s('title', null, `${pillar.pillar}: ${pillar.score}/100`),
        s(
          'text',
          { class: 'label', x: labelWidth - 8, y: y + row / 2 + 4, 'text-anchor': 'end' },
          pillar.pillar,
        ),
        s('rect', { class: 'track', x: labelWidth, y: y + 6, width: barWidth, height: row - 12, rx: 3 }),
        s('rect', {
          class: 'fill',
          x: labelWidth,
          y: y + 6,
          width: (barWidth * score) / 100,
          height: row - 12,
          rx: 3,
        }),
        s('text', { class: 'value', x: labelWidth + barWidth + 8, y: y + row / 2 + 4 }, String(pillar.score)),
      );
    }),
  );
}

/** A round step for the y axis, so gridlines fall on readable numbers. */
function niceStep(max: number, ticks: number): number {
  const raw = Math.max(max, 1) / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= raw);
  return Math.max(1, step ?? raw);
}

function bucketLabel(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().slice(11, 16);
}

/** Decisions over time as stacked bars, one per bucket, with a legend. */
export function decisionChart(buckets: readonly DecisionBucket[]): HTMLElement {
  const width = 640;
  const height = 220;
  const left = 40;
  const bottom = 24;
  const top = 8;
  const plotHeight = height - bottom - top;
  const plotWidth = width - left - 8;
  const totals = buckets.map((bucket) => VERDICTS.reduce((sum, verdict) => sum + (bucket[verdict] ?? 0), 0));
  const step = niceStep(Math.max(0, ...totals), 4);
  const yMax = step * Math.max(1, Math.ceil(Math.max(0, ...totals) / step));
  const y = (value: number) => top + plotHeight - (plotHeight * value) / yMax;
  const slot = plotWidth / Math.max(buckets.length, 1);
  const barWidth = Math.max(2, slot * 0.7);
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 8));

  const grid = [];
  for (let value = 0; value <= yMax; value += step) {
    grid.push(
      s('line', { class: 'grid', x1: left, x2: width - 8, y1: y(value), y2: y(value) }),
      s('text', { class: 'axis', x: left - 6, y: y(value) + 4, 'text-anchor': 'end' }, String(value)),
    );
  }
  const bars = buckets.map((bucket, index) => {
    const x = left + index * slot + (slot - barWidth) / 2;
    let base = 0;
    const parts = VERDICTS.filter((verdict) => (bucket[verdict] ?? 0) > 0).map((verdict) => {
      const count = bucket[verdict];
      const rect = s(
        'rect',
        {
          class: `seg verdict-${verdict}`,
          x,
          y: y(base + count),
          width: barWidth,
          height: y(base) - y(base + count),
        },
        s('title', null, `${bucketLabel(bucket.time)} ${verdict}: ${count}`),
      );
      base += count;
      return rect;
    });
    const label =
      index % labelEvery === 0
        ? s(
            'text',
            { class: 'axis', x: x + barWidth / 2, y: height - 6, 'text-anchor': 'middle' },
            bucketLabel(bucket.time),
          )
        : null;
    return s('g', { class: 'bucket', 'data-time': bucket.time }, parts, label);
  });

  const svg = s(
    'svg',
    {
      class: 'chart decision-chart',
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label': 'decisions over time',
    },
    grid,
    bars,
    buckets.length === 0
      ? s('text', { class: 'axis', x: width / 2, y: height / 2, 'text-anchor': 'middle' }, 'no decisions yet')
      : null,
  );
  return h(
    'figure',
    { class: 'chart-figure' },
    svg,
    h(
      'figcaption',
      { class: 'legend' },
      VERDICTS.map((verdict) =>
        h('span', { class: 'legend-item' }, h('span', { class: `swatch verdict-${verdict}` }), verdict),
      ),
    ),
  );
}

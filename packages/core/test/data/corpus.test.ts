import { describe, expect, it } from 'vitest';
import { createDetector, PII_CLASSES, SECRET_CLASSES } from '../../src/index.js';
// @ts-expect-error plain JavaScript, shared with the benchmark
import { labelledCorpus, negatives, positives } from '../../../../test/data/corpus/labelled.js';
// @ts-expect-error plain JavaScript, shared with the benchmark
import { score } from '../../../../test/data/corpus/score.js';

interface Label {
  class: string;
  start: number;
  end: number;
}
interface Sample {
  id: string;
  text: string;
  labels: Label[];
  note: string;
}
interface Row {
  class: string;
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  misses: Array<{ id: string }>;
  falsePositives: Array<{ id: string; value: string }>;
}
interface Score {
  rows: Row[];
  precision: number;
  recall: number;
  tp: number;
  fp: number;
  fn: number;
}

const detector = createDetector();
const corpus = labelledCorpus() as Sample[];
const result = score(corpus, (text: string) => detector.scan(text)) as Score;

describe('the labelled corpus', () => {
  it('has at least 300 positives across every class and 300 hard negatives', () => {
    const labels = (positives() as Sample[]).flatMap((s) => s.labels);
    expect(labels.length).toBeGreaterThanOrEqual(300);
    for (const cls of [...SECRET_CLASSES, ...PII_CLASSES]) {
      expect(labels.filter((l) => l.class === cls).length, cls).toBeGreaterThanOrEqual(10);
    }
    const hard = negatives() as Sample[];
    expect(hard.length).toBeGreaterThanOrEqual(300);
    expect(new Set(hard.map((s) => s.note))).toEqual(
      new Set([
        'uuid',
        'git_sha',
        'hash',
        'base64_blob',
        'version',
        'identifier',
        'number',
        'bad_checksum',
        'placeholder',
        'not_contact',
        'documented_example',
        'prose',
        'random_token',
        'hand',
      ]),
    );
  });

  it('is the same on every run', () => {
    expect(JSON.stringify(labelledCorpus())).toBe(JSON.stringify(corpus));
  });

  it('scores precision ≥ 0.97 and recall ≥ 0.95 overall, and at least 0.9 for every class', () => {
    const lines = result.rows
      .sort((a, b) => a.class.localeCompare(b.class))
      .map(
        (r) =>
          `${r.class.padEnd(25)} ${String(r.tp).padStart(4)} ${String(r.fp).padStart(4)} ${String(r.fn).padStart(4)}  ${r.precision.toFixed(3)}  ${r.recall.toFixed(3)}`,
      );
    console.log(
      [
        `class                       tp   fp   fn  precision recall`,
        ...lines,
        `${'overall'.padEnd(25)} ${String(result.tp).padStart(4)} ${String(result.fp).padStart(4)} ${String(result.fn).padStart(4)}  ${result.precision.toFixed(3)}  ${result.recall.toFixed(3)}`,
      ].join('\n'),
    );
    const weak = result.rows
      .filter((r) => r.precision < 0.9 || r.recall < 0.9)
      .map((r) => ({ class: r.class, misses: r.misses.map((m) => m.id), falsePositives: r.falsePositives }));
    expect(weak).toEqual([]);
    expect(result.precision).toBeGreaterThanOrEqual(0.97);
    expect(result.recall).toBeGreaterThanOrEqual(0.95);
  });

  it('finds the same values when the texts arrive inside structured values', () => {
    const inside = score(corpus, (text: string) =>
      detector.scanValue({ args: { text } }).filter((f) => f.path === '$.args.text'),
    ) as Score;
    expect(inside.tp).toBe(result.tp);
    expect(inside.fp).toBe(result.fp);
  });
});

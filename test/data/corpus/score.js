// Scores findings against the labelled corpus. A label is found when a finding of its class
// covers all of its characters (a finding that leaves part of a secret visible does not count);
// a finding that covers no label of its class is a false positive. Used by the corpus test and
// by the benchmark (where a peer's findings carry no class of ours: `anyClass`).

/**
 * @param corpus samples `{ text, labels: [{ class, start, end }] }`
 * @param findingsOf text → findings `[{ class?, start, end }]`
 * @param options `anyClass`: a finding of any class may match a label (for peers); `overlap`: a
 *   finding that overlaps a label finds it (peers whose offsets do not cover the value); `classes`:
 *   only labels of these classes count
 */
export function score(corpus, findingsOf, { anyClass = false, classes, overlap = false } = {}) {
  const perClass = new Map();
  const entry = (cls) => {
    let e = perClass.get(cls);
    if (e === undefined)
      perClass.set(cls, (e = { class: cls, tp: 0, fp: 0, fn: 0, misses: [], falsePositives: [] }));
    return e;
  };
  for (const sample of corpus) {
    const labels = classes ? sample.labels.filter((l) => classes.includes(l.class)) : sample.labels;
    const findings = findingsOf(sample.text);
    const used = new Set();
    for (const label of labels) {
      const e = entry(label.class);
      const k = findings.findIndex(
        (f) =>
          (anyClass || f.class === label.class) &&
          (overlap
            ? f.start < label.end && f.end > label.start
            : f.start <= label.start && f.end >= label.end),
      );
      if (k >= 0) {
        e.tp++;
        used.add(k);
      } else {
        e.fn++;
        e.misses.push({ id: sample.id, value: sample.text.slice(label.start, label.end), found: findings });
      }
    }
    findings.forEach((f, k) => {
      if (used.has(k)) return;
      // a second finding on a label already matched (two parts of one value) is not a false positive
      if (labels.some((l) => (anyClass || f.class === l.class) && f.start < l.end && f.end > l.start)) return;
      if (anyClass || (classes && !classes.includes(f.class))) return;
      const e = entry(f.class);
      e.fp++;
      e.falsePositives.push({ id: sample.id, value: sample.text.slice(f.start, f.end), text: sample.text });
    });
  }
  const rows = [...perClass.values()].map((e) => ({
    ...e,
    precision: e.tp + e.fp === 0 ? 1 : e.tp / (e.tp + e.fp),
    recall: e.tp + e.fn === 0 ? 1 : e.tp / (e.tp + e.fn),
  }));
  const tp = rows.reduce((a, r) => a + r.tp, 0);
  const fp = rows.reduce((a, r) => a + r.fp, 0);
  const fn = rows.reduce((a, r) => a + r.fn, 0);
  return {
    rows,
    tp,
    fp,
    fn,
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: tp + fn === 0 ? 1 : tp / (tp + fn),
  };
}

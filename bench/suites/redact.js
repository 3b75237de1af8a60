// Detectors: Posture's one-pass scanner against secretlint (@secretlint/core with the recommended
// preset) on the same inputs in one run — a 10 MB mixed text and 100,000 tool-argument-sized
// values — and recall on the secret classes of the labelled corpus for both. A plain combined
// regular expression over the same token shapes is timed beside them as a floor.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import vm from 'node:vm';
import { createDetector, SECRET_CLASSES } from '../../packages/core/dist/index.js';
import { negatives, positives } from '../../test/data/corpus/labelled.js';
import { score } from '../../test/data/corpus/score.js';
import { format } from '../lib.js';
import { mixedText, smallValues } from './redact/inputs.js';

export const description =
  'Posture detectors vs secretlint (recommended preset): 10 MB mixed text, 100,000 small values, corpus recall';

const ROUNDS = 6;
// The fast contenders scan the 10 MB text this many times per round, so that each timed stretch
// is about as long as secretlint's one scan and a short burst of other work on the machine
// weighs on all of them alike.
const LARGE_REPEATS = 4;
// secretlint runs in a child process of its own (redact/secretlint-child.js), so this process,
// where Posture and the floor are timed, never holds its heap or JIT state, and it never holds
// theirs. Each child times one stretch and reports CPU and wall time from inside.
const CHILD = fileURLToPath(new URL('./redact/secretlint-child.js', import.meta.url));
const run_ = promisify(execFile);
async function secretlintChild(...args) {
  const { stdout } = await run_('node', [CHILD, ...args.map(String)], { maxBuffer: 1 << 28 });
  return JSON.parse(stdout);
}

// The floor: one alternation of the token shapes, the first thing one would write.
const COMBINED =
  /AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|gh[pousr]_[A-Za-z0-9]{36}|glpat-[A-Za-z0-9_-]{20,}|xox[abposre]-[A-Za-z0-9-]{10,}|[sr]k_live_[0-9A-Za-z]{24,}|sk-[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36}|SG\.[\w-]{22}\.[\w-]{43}|-----BEGIN [A-Z ]*PRIVATE KEY-----|eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]*|[\w.+-]+@[\w-]+\.[A-Za-z]{2,}|\b(?:\d[ -]?){13,19}\b/g;
function combined(text) {
  COMBINED.lastIndex = 0;
  let count = 0;
  while (COMBINED.exec(text) !== null) count++;
  return count;
}

export async function run(report) {
  const text = mixedText();
  const small = smallValues();
  const smallBytes = small.reduce((sum, s) => sum + s.length, 0);
  // The gateway scans parsed arguments: the same values as objects, walked with JSON paths.
  const parsed = small.map((s) => JSON.parse(s));
  const detector = createDetector();
  report.heading('Inputs');
  report.note(
    `mixed text: ${format.count(text.length)} characters (prose, code, logs, JSON; a sensitive item every ~4 kB)`,
  );
  report.note(
    `small values: ${format.count(small.length)} JSON tool arguments, ${format.count(smallBytes)} characters (mean ${(smallBytes / small.length).toFixed(0)})`,
  );

  // What each finds on the large text, so nobody is timed doing nothing.
  const postureFound = detector.scan(text);
  const firstLarge = await secretlintChild('large');
  report.note(
    `findings in the mixed text: Posture ${postureFound.length} (secrets ${postureFound.filter((f) => f.family === 'secrets').length}, pii ${postureFound.filter((f) => f.family === 'pii').length}); secretlint ${firstLarge.found}; combined regex ${combined(text)}`,
  );

  // Interleaved rounds: each round times every contender once on the large text and on a slice
  // of the small values (secretlint: a sixth of them per round, so it sees each value once;
  // the others see all of them every round).
  const blank = () => ({ large: 0, largeWall: 0, largeBytes: 0, small: 0, smallWall: 0, smallBytes: 0 });
  const totals = { posture: blank(), secretlint: blank(), combined: blank(), postureValue: blank() };
  // Each stretch is timed twice: CPU time of this process (process.cpuUsage, user + system), which
  // other jobs on this shared machine do not inflate, and wall time, which they do.
  // A forced collection before each stretch, so no contender pays for another's garbage (bench/lib.js
  // enables --expose-gc when imported).
  const collectGarbage = vm.runInNewContext('gc');
  const start = () => {
    collectGarbage();
    return { wall: performance.now(), cpu: process.cpuUsage() };
  };
  const add = (t, kind, t0, bytes) => {
    const cpu = process.cpuUsage(t0.cpu);
    t[kind] += (cpu.user + cpu.system) / 1000;
    t[`${kind}Wall`] += performance.now() - t0.wall;
    t[`${kind}Bytes`] += bytes;
  };
  // warm-up: until the JIT has settled on every path the timed rounds take
  for (let k = 0; k < 3; k++) {
    detector.scan(text);
    for (const s of small) detector.scan(s);
    for (const v of parsed) detector.scanValue(v);
    combined(text);
  }
  const fromChild = (t, kind, stretch) => {
    t[kind] += stretch.cpuMs;
    t[`${kind}Wall`] += stretch.wallMs;
    t[`${kind}Bytes`] += stretch.bytes;
  };

  let sink = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let t0 = start();
    for (let k = 0; k < LARGE_REPEATS; k++) sink += detector.scan(text).length;
    add(totals.posture, 'large', t0, LARGE_REPEATS * text.length);

    fromChild(totals.secretlint, 'large', await secretlintChild('large'));

    t0 = start();
    for (let k = 0; k < LARGE_REPEATS; k++) sink += combined(text);
    add(totals.combined, 'large', t0, LARGE_REPEATS * text.length);

    t0 = start();
    for (let i = 0; i < small.length; i++) sink += detector.scan(small[i]).length;
    add(totals.posture, 'small', t0, smallBytes);

    t0 = start();
    for (let i = 0; i < parsed.length; i++) sink += detector.scanValue(parsed[i]).length;
    add(totals.postureValue, 'small', t0, smallBytes);

    // secretlint sees a sixth of the small values per round, so each value once.
    fromChild(totals.secretlint, 'small', await secretlintChild('small', round, ROUNDS));

    t0 = start();
    for (let i = 0; i < small.length; i++) sink += combined(small[i]);
    add(totals.combined, 'small', t0, smallBytes);
  }
  const mbps = (bytes, ms) => (ms > 0 ? bytes / 1e6 / (ms / 1000) : 0);
  const rows = [
    ['Posture createDetector().scan', totals.posture],
    ['secretlint (preset recommend)', totals.secretlint],
    ['floor: one combined regex', totals.combined],
    ['Posture scanValue (parsed values)', totals.postureValue],
  ].map(([name, t]) => ({
    name,
    large: mbps(t.largeBytes, t.large),
    largeWall: mbps(t.largeBytes, t.largeWall),
    small: mbps(t.smallBytes, t.small),
    smallWall: mbps(t.smallBytes, t.smallWall),
    perValue: (t.small * 1000) / (t.smallBytes / (smallBytes / small.length)),
  }));
  report.heading(`Throughput (same inputs, ${ROUNDS} interleaved rounds)`);
  report.table(rows, [
    ['contender', (r) => r.name],
    ['10 MB text MB/s', (r) => (r.largeWall > 0 ? r.large.toFixed(1) : '—')],
    ['(wall)', (r) => (r.largeWall > 0 ? r.largeWall.toFixed(1) : '—')],
    ['small values MB/s', (r) => r.small.toFixed(1)],
    ['(wall)', (r) => r.smallWall.toFixed(1)],
    ['CPU µs per small value', (r) => format.us(r.perValue)],
  ]);
  report.note(
    'MB/s of CPU time (user + system of the process that scanned: this one, or secretlint’s own child process), and of wall time, which other jobs on the machine inflate.',
  );
  report.note(
    `load average while running: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(', ')} on ${os.cpus().length} CPUs`,
  );
  report.note('MB = 10^6 UTF-16 characters of input (the texts are ASCII apart from a few names).');
  report.note(
    'Posture reports secrets and personal data; secretlint and the regex floor look for secrets (the floor also for emails and card-like digits).',
  );
  report.set('throughput', rows);
  report.set('sink', sink);
  const [posture, lint, floor, postureValue] = rows;

  report.heading('Recall on the secret classes of the labelled corpus');
  const corpusPositives = positives();
  const corpusNegatives = negatives();
  const secretClasses = [...SECRET_CLASSES];
  const lintFindings = new Map(Object.entries(await secretlintChild('corpus')));
  // secretlint reports some ranges that start at the key rather than the value (its AWS secret
  // key rule), so here a finding that overlaps a label finds it, for both.
  const options = { anyClass: true, overlap: true, classes: secretClasses };
  const postureScore = score(corpusPositives, (t) => detector.scan(t), options);
  const lintScore = score(corpusPositives, (t) => lintFindings.get(t), options);
  const byClass = new Map(lintScore.rows.map((r) => [r.class, r]));
  report.table(
    postureScore.rows.sort((a, b) => a.class.localeCompare(b.class)),
    [
      ['class', (r) => r.class],
      ['labels', (r) => r.tp + r.fn],
      ['Posture recall', (r) => format.percent(r.recall)],
      ['secretlint recall', (r) => format.percent(byClass.get(r.class)?.recall ?? 0)],
    ],
  );
  const alarms = (findingsOf) => corpusNegatives.filter((s) => findingsOf(s.text).length > 0).length;
  const postureAlarms = alarms((t) => detector.scan(t).filter((f) => f.family === 'secrets'));
  const lintAlarms = alarms((t) => lintFindings.get(t));
  report.note(
    `overall secret recall: Posture ${format.percent(postureScore.recall)} (${postureScore.tp}/${postureScore.tp + postureScore.fn}), secretlint ${format.percent(lintScore.recall)} (${lintScore.tp}/${lintScore.tp + lintScore.fn})`,
  );
  report.note(
    `hard negatives with a secret finding: Posture ${postureAlarms}, secretlint ${lintAlarms} (of ${corpusNegatives.length})`,
  );
  report.note('a label counts as found when a finding of any class overlaps it');
  report.set('recall', {
    posture: postureScore.recall,
    secretlint: lintScore.recall,
    per_class: postureScore.rows.map((r) => ({
      class: r.class,
      posture: r.recall,
      secretlint: byClass.get(r.class)?.recall ?? 0,
    })),
    false_alarms: { posture: postureAlarms, secretlint: lintAlarms, negatives: corpusNegatives.length },
  });

  report.heading('Ratios (throughput)');
  report.ratio('Posture / secretlint, 10 MB text', posture.large, lint.large);
  report.ratio('Posture / secretlint, small values', posture.small, lint.small);
  report.ratio('Posture / combined regex, 10 MB text', posture.large, floor.large);
  report.ratio('Posture / combined regex, small values', posture.small, floor.small);
  report.ratio('Posture scanValue (parsed) / secretlint, small values', postureValue.small, lint.small);

  report.heading('Targets');
  const rate = (v) => `${v.toFixed(1)} MB/s`;
  const times = (v) => `${v.toFixed(2)}×`;
  report.target('Posture, 10 MB text', posture.large, '>=', 150, rate);
  report.target('Posture, small values', posture.small, '>=', 150, rate);
  report.target('Posture / secretlint, 10 MB text', posture.large / lint.large, '>=', 3, times);
  report.target('Posture / secretlint, small values', posture.small / lint.small, '>=', 10, times);
  report.target(
    'secret recall, Posture − secretlint',
    postureScore.recall - lintScore.recall,
    '>=',
    0,
    (v) => `${(v * 100).toFixed(1)} points`,
  );
}

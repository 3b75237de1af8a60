// secretlint, timed in a process of its own: the parent (bench/suites/redact.js) never loads it,
// so neither contender runs on a heap or JIT state the other left behind. Prints one JSON line.
//   node secretlint-child.js large            → scans the 10 MB mixed text once
//   node secretlint-child.js small <i> <n>    → scans the i-th of n slices of the small values
//   node secretlint-child.js corpus           → findings for every corpus text (recall)
import { lintSource } from '@secretlint/core';
import { secretLintProfiler } from '@secretlint/profiler';
import { creator as recommended } from '@secretlint/secretlint-rule-preset-recommend';
import { negatives, positives } from '../../../test/data/corpus/labelled.js';
import { mixedText, smallValues } from './inputs.js';

// The recommended preset as shipped, except that AWS access key ids are scanned too (off by
// default in secretlint), so its recall is its best.
const CONFIG = {
  rules: [
    {
      id: recommended.meta.id,
      rule: recommended,
      rules: [{ id: '@secretlint/secretlint-rule-aws', options: { enableIDScanRule: true } }],
    },
  ],
};
// The profiler is on by default and records marks per rule and file (secretlint issue #1633):
// off, so secretlint runs at its best.
secretLintProfiler.setEnabled(false);

async function secretlint(content) {
  const result = await lintSource({
    source: { filePath: '/virtual/input.txt', content, contentType: 'text' },
    options: { config: CONFIG, noPhysicFilePath: true },
  });
  return result.messages.map((m) => ({ start: m.range[0], end: m.range[1], rule: m.ruleId }));
}

const timed = async (texts) => {
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let found = 0;
  for (const t of texts) found += (await secretlint(t)).length;
  const cpu = process.cpuUsage(cpu0);
  return {
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs: performance.now() - wall0,
    bytes: texts.reduce((sum, t) => sum + t.length, 0),
    found,
  };
};

const [mode, index, parts] = process.argv.slice(2);
let out;
if (mode === 'large') {
  const text = mixedText();
  await secretlint(text.slice(0, 200_000)); // warm up
  out = await timed([text]);
} else if (mode === 'small') {
  const small = smallValues();
  for (const s of small.slice(0, 500)) await secretlint(s); // warm up
  const n = Number(parts);
  const i = Number(index);
  out = await timed(small.slice((i * small.length) / n, ((i + 1) * small.length) / n));
} else if (mode === 'corpus') {
  out = {};
  for (const sample of [...positives(), ...negatives()]) out[sample.text] = await secretlint(sample.text);
} else {
  process.stderr.write('usage: secretlint-child.js large | small <i> <n> | corpus\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(out)}\n`);

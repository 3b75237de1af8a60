// Shared helpers for bench suites: a seeded PRNG, a timing loop, and a report that prints tables,
// ratios and targets and writes every figure to bench/out/<suite>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = dirname(BENCH_DIR);

/** mulberry32: a small seeded PRNG, so every run generates the same inputs. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (list) => list[Math.floor(next() * list.length)],
    /** Picks a key of `weights` ({ read: 0.7, write: 0.3 }) with its probability. */
    weighted(weights) {
      let r = next() * Object.values(weights).reduce((a, b) => a + b, 0);
      for (const [key, weight] of Object.entries(weights)) if ((r -= weight) < 0) return key;
      return Object.keys(weights).at(-1);
    },
  };
}

// A forced collection between contenders, so one contender's garbage is not collected on
// another's clock. `gc` is only reachable with --expose-gc; this enables it from inside.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc');

// The timing loop. Every timer gets its own copy compiled from this source: V8 keeps type
// feedback per function, so a shared loop would see several `call`s, turn the call site
// megamorphic and slow down whichever contender runs last. Batches of `batch` calls are timed
// with process.hrtime.bigint(); a batch's time divided by `batch` is one latency sample.
const LOOP_SOURCE = `
  const n = items.length;
  const samples = [];
  let j = cursor.at;
  let sink;
  let busy = 0n;
  let calls = 0;
  const end = hrtime() + budget;
  for (;;) {
    const t0 = hrtime();
    for (let k = 0; k < batch; k++) {
      sink = call(items[j]);
      if (++j === n) j = 0;
    }
    const t1 = hrtime();
    busy += t1 - t0;
    calls += batch;
    samples.push(Number(t1 - t0) / batch);
    if (t1 >= end) break;
  }
  cursor.at = j;
  return { calls, busy, samples, sink };
`;

/**
 * A timer for one contender: `call(item)` runs once per item, cycling through `items`.
 * Returns `run(seconds)` → raw figures; `summarise()` combines all runs except warm-ups.
 */
export function timer(name, items, call, { batch = 16 } = {}) {
  const loop = new Function('items', 'call', 'batch', 'budget', 'cursor', 'hrtime', LOOP_SOURCE);
  const cursor = { at: 0 };
  const kept = { calls: 0, busy: 0n, samples: [] };
  return {
    name,
    batch,
    /** Runs for about `seconds`; `warmup` runs are not counted. */
    run(seconds, { warmup = false } = {}) {
      collectGarbage();
      const budget = BigInt(Math.round(seconds * 1e9));
      const result = loop(items, call, batch, budget, cursor, process.hrtime.bigint);
      if (warmup) return;
      kept.calls += result.calls;
      kept.busy += result.busy;
      for (const sample of result.samples) kept.samples.push(sample);
    },
    summarise() {
      const seconds = Number(kept.busy) / 1e9;
      const sorted = Float64Array.from(kept.samples).sort();
      const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] / 1000;
      return {
        name,
        calls: kept.calls,
        seconds,
        perSecond: kept.calls / seconds,
        p50_us: at(0.5),
        p99_us: at(0.99),
        p999_us: at(0.999),
        batch,
      };
    },
  };
}

/**
 * Times contenders in interleaved rounds (A B C A B C …), so a slow moment of the machine is
 * spread over all of them instead of landing on one. Each warms up first.
 */
export function compete(timers, { rounds = 3, warmup = 0.3 } = {}) {
  for (const { timer: t } of timers) t.run(warmup, { warmup: true });
  for (let round = 0; round < rounds; round++) {
    for (const { timer: t, seconds } of timers) t.run(seconds / rounds);
  }
  return timers.map(({ timer: t }) => t.summarise());
}

export const format = {
  /** 2345678 → "2.35M" */
  count(value) {
    if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
    if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
    return value.toFixed(value < 10 ? 2 : 0);
  },
  us(value) {
    return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
  },
  percent(value) {
    return `${(value * 100).toFixed(value === 1 || value === 0 ? 0 : 2)}%`;
  },
};

/** What a suite prints and saves. Figures go to `report.data`, saved as bench/out/<suite>.json. */
export function createReport(suite) {
  const data = {
    suite,
    date: new Date().toISOString(),
    machine: {
      node: process.version,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cpus: os.cpus().length,
      platform: `${os.platform()} ${os.release()}`,
    },
    notes: [],
    ratios: {},
    targets: [],
  };
  const print = (text = '') => process.stdout.write(`${text}\n`);
  return {
    data,
    print,
    heading(text) {
      print();
      print(text);
      print('-'.repeat(text.length));
    },
    note(text) {
      data.notes.push(text);
      print(`  ${text}`);
    },
    /** Stores a figure under `key` (nested objects allowed). */
    set(key, value) {
      data[key] = value;
    },
    /** Prints rows as an aligned table; `columns` are [header, row → text] pairs. */
    table(rows, columns) {
      const cells = [
        columns.map(([header]) => header),
        ...rows.map((row) => columns.map(([, cell]) => String(cell(row)))),
      ];
      const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
      cells.forEach((line, r) => {
        // First column left-aligned (names), the rest right-aligned (numbers).
        print(
          `  ${line.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')}`,
        );
        if (r === 0) print(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
      });
    },
    /** Prints and stores `numerator / denominator`, e.g. how many times faster one is. */
    ratio(label, numerator, denominator, explain = '') {
      const value = numerator / denominator;
      data.ratios[label] = value;
      print(
        `  ${label}: ${value >= 100 ? value.toFixed(0) : value.toFixed(2)}×${explain ? `  (${explain})` : ''}`,
      );
      return value;
    },
    /** Prints PASS or MISS for `actual op goal`; `show` formats the numbers. */
    target(label, actual, op, goal, show = String) {
      const pass = op === '>=' ? actual >= goal : actual <= goal;
      data.targets.push({ label, actual, op, goal, pass });
      print(
        `  ${pass ? 'PASS' : 'MISS'}  ${label}: ${show(actual)} (target ${op === '>=' ? '≥' : '≤'} ${show(goal)})`,
      );
      return pass;
    },
    save() {
      const file = join(BENCH_DIR, 'out', `${suite}.json`);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
      return file;
    },
  };
}

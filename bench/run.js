// Runs benchmark suites: `node bench/run.js [suite...]` runs the named suites, or all of them.
// A suite is bench/suites/<name>.js exporting `description` and `async run(report)`; its figures
// are printed and saved to bench/out/<name>.json. Targets that MISS are reported, not fatal
// (timings here vary 1.5–3× between runs); a suite that throws fails the run.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, createReport } from './lib.js';

const suitesDir = join(BENCH_DIR, 'suites');
const available = readdirSync(suitesDir)
  .filter((file) => file.endsWith('.js'))
  .map((file) => file.slice(0, -3))
  .sort();

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown suite ${unknown.map((n) => `\`${n}\``).join(', ')}; available: ${available.join(', ')}\n`,
  );
  process.exit(2);
}

let failed = 0;
for (const name of requested.length > 0 ? requested : available) {
  const suite = await import(pathToFileURL(join(suitesDir, `${name}.js`)).href);
  const title = `bench ${name}: ${suite.description ?? ''}`;
  process.stdout.write(`\n${title}\n${'='.repeat(title.length)}\n`);
  const report = createReport(name);
  const started = performance.now();
  try {
    await suite.run(report);
    report.set('seconds', (performance.now() - started) / 1000);
    process.stdout.write(
      `\n  figures: ${report.save()} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`,
    );
  } catch (error) {
    failed++;
    process.stderr.write(
      `\nsuite \`${name}\` failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
}
process.exitCode = failed > 0 ? 1 : 0;

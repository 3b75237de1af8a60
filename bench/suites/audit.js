// Durable audit appends: Posture's SQLite and PostgreSQL logs under many concurrent appends (group
// commit) beside plain better-sqlite3 and pg inserts of the same events into the same tables, in
// one run and interleaved rounds; then verification of a log of 1,000,000 events.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import pg from 'pg';
import {
  openPostgresAuditLog,
  openSqliteAuditLog,
  verifyExportFile,
  verifyLog,
  exportAuditLog,
} from '../../packages/storage/dist/index.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../../packages/storage/dist/sqlite/migrations.js';
import { MIGRATIONS as POSTGRES_MIGRATIONS } from '../../packages/storage/dist/postgres/migrations.js';
import { format } from '../lib.js';
import { makeEvents } from './audit/events.js';
import { sustain, writeLines } from './audit/drive.js';

export const description =
  'durable events/s: Posture SQLite and PostgreSQL vs plain inserts; verifying 1M events';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// A gateway at 50k calls/s whose calls take 20-40 ms has about this many in flight (Little's law);
// it lets group commit write one batch while the disk flushes the one before.
const IN_FLIGHT = 2048;
const BATCH = 1000;
const ROUNDS = 3;
const SECONDS = 2;
const VERIFY_EVENTS = 1_000_000;

export async function run(report) {
  const dir = mkdtempSync(join(os.tmpdir(), 'posture-bench-audit-'));
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
  const schemas = [];
  const schema = async (name) => {
    const full = `posture_bench_${name}_${process.pid}`;
    await admin.query(`DROP SCHEMA IF EXISTS ${full} CASCADE; CREATE SCHEMA ${full}`);
    schemas.push(full);
    return { connectionString: POSTGRES_URL, options: `-c search_path=${full}` };
  };
  try {
    const events = makeEvents(20_000);
    const bytes =
      events.reduce((sum, e, i) => sum + JSON.stringify({ ...e, seq: i }).length, 0) / events.length;
    report.heading(
      `Durable appends: ${IN_FLIGHT} appends in flight, ~${Math.round(bytes)}-byte events, ${ROUNDS} interleaved rounds of ${SECONDS} s`,
    );
    report.note(
      'SQLite: WAL, every commit on disk before its appends resolve (Posture: fdatasync after COMMIT,',
    );
    report.note(
      'plain: synchronous=FULL), one file each on the same disk. PostgreSQL: synchronous_commit on',
    );
    report.note(
      `plain inserts: JSON.stringify of each event into the same table (same indexes), ${BATCH} rows per transaction`,
    );

    const contenders = [
      postureSqlite(join(dir, 'posture.db'), events),
      plainSqlite(join(dir, 'plain.db'), events),
      posturePostgres(await schema('posture'), join(dir, 'pg.key'), events),
      plainPostgres(await schema('plain'), events),
    ];
    const opened = [];
    for (const contender of contenders) opened.push(await contender.open());
    const totals = opened.map((c) => ({ name: c.name, events: 0, seconds: 0 }));
    for (const c of opened) await sustain(c, 0.5, IN_FLIGHT); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, c] of opened.entries()) {
        const { events: n, seconds } = await sustain(c, SECONDS, IN_FLIGHT);
        totals[i].events += n;
        totals[i].seconds += seconds;
      }
    }
    for (const c of opened) await c.close();
    const rows = totals.map((t) => ({ ...t, perSecond: t.events / t.seconds }));
    report.table(rows, [
      ['store', (r) => r.name],
      ['events/s', (r) => format.count(r.perSecond)],
      ['events written', (r) => format.count(r.events)],
    ]);
    report.set('appends', rows);

    // What the Posture logs wrote must verify: speed of a log that is wrong would mean nothing.
    for (const check of [contenders[0], contenders[2]]) {
      const result = await check.verify();
      if (!result.ok) throw new Error(`${check.name} wrote a log that does not verify: ${result.reason}`);
      report.note(`${check.name}: the ${format.count(result.checked)} events written verify`);
    }

    const [sqlite, sqlitePlain, postgres, postgresPlain] = rows;
    report.heading('Ratios');
    report.ratio(
      'plain better-sqlite3 / Posture SQLite',
      sqlitePlain.perSecond,
      sqlite.perSecond,
      'the ceiling over Posture',
    );
    report.ratio('plain pg / Posture PostgreSQL', postgresPlain.perSecond, postgres.perSecond);

    report.heading(`Verification of ${format.count(VERIFY_EVENTS)} events`);
    const verification = await verifyMillion(dir, events, report);

    report.heading('Targets');
    const rate = (v) => `${format.count(v)}/s`;
    const times = (v) => `${v.toFixed(2)}×`;
    const seconds = (v) => `${v.toFixed(2)} s`;
    report.target('Posture SQLite durable events/s', sqlite.perSecond, '>=', 50_000, rate);
    report.target('Posture PostgreSQL durable events/s', postgres.perSecond, '>=', 20_000, rate);
    report.target(
      'plain better-sqlite3 / Posture SQLite',
      sqlitePlain.perSecond / sqlite.perSecond,
      '<=',
      2,
      times,
    );
    report.target(
      `verify ${format.count(VERIFY_EVENTS)} events (SQLite store)`,
      verification.store,
      '<=',
      10,
      seconds,
    );
  } finally {
    for (const name of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`).catch(() => {});
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

function postureSqlite(path, events) {
  return {
    name: 'Posture SQLite log',
    async open() {
      const log = await openSqliteAuditLog({ path, maxBatch: BATCH });
      let next = 0;
      return {
        name: this.name,
        append: () => log.append(events[next++ % events.length]),
        close: () => log.close(),
      };
    },
    async verify() {
      const log = await openSqliteAuditLog({ path });
      try {
        return await verifyLog(
          log.entries(),
          (await log.checkpoints()).map((c) => c.note),
          [log.verifierKey],
        );
      } finally {
        await log.close();
      }
    },
  };
}

function posturePostgres(config, keyFile, events) {
  return {
    name: 'Posture PostgreSQL log',
    async open() {
      const log = await openPostgresAuditLog({ config, keyFile, maxBatch: BATCH });
      let next = 0;
      return {
        name: this.name,
        append: () => log.append(events[next++ % events.length]),
        close: () => log.close(),
      };
    },
    async verify() {
      const log = await openPostgresAuditLog({ config, keyFile });
      try {
        return await verifyLog(
          log.entries(),
          (await log.checkpoints()).map((c) => c.note),
          [log.verifierKey],
        );
      } finally {
        await log.close();
      }
    },
  };
}

const SEARCH_COLUMNS = (e) => [
  e.time,
  e.kind,
  e.actor?.user ?? null,
  e.actor?.agent ?? null,
  e.tool ?? null,
  e.decision ?? null,
  e.outcome ?? null,
];

/** The ceiling: the same rows into the same table, `BATCH` per transaction, nothing else. */
function plainSqlite(path, events) {
  return {
    name: 'plain better-sqlite3 inserts',
    async open() {
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      for (const migration of SQLITE_MIGRATIONS) db.exec(migration.sql);
      const insert = db.prepare(
        `INSERT INTO audit_events (seq, time, kind, actor_user, actor_agent, tool, decision, outcome, json, leaf_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const empty = Buffer.alloc(32);
      let seq = 0;
      const write = db.transaction((n) => {
        for (let k = 0; k < n; k++) {
          const event = events[seq % events.length];
          insert.run(seq, ...SEARCH_COLUMNS(event), JSON.stringify({ ...event, seq }), empty);
          seq++;
        }
      });
      return { name: this.name, batch: (n) => write(n), close: async () => db.close() };
    },
  };
}

/** The same rows into the same PostgreSQL table, `BATCH` per multi-row INSERT (unnest), one per transaction. */
function plainPostgres(config, events) {
  return {
    name: 'plain pg inserts (unnest)',
    async open() {
      const client = new pg.Client(config);
      await client.connect();
      for (const migration of POSTGRES_MIGRATIONS) await client.query(migration.sql);
      let seq = 0;
      const empty = Buffer.alloc(32);
      return {
        name: this.name,
        async batch(n) {
          const columns = Array.from({ length: 10 }, () => []);
          for (let k = 0; k < n; k++) {
            const event = events[seq % events.length];
            const values = [seq, ...SEARCH_COLUMNS(event), JSON.stringify({ ...event, seq }), empty];
            for (let c = 0; c < 10; c++) columns[c].push(values[c]);
            seq++;
          }
          await client.query(
            `INSERT INTO posture_audit_events (seq, time, kind, actor_user, actor_agent, tool, decision, outcome, json, leaf_hash)
             SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[])`,
            columns,
          );
        },
        close: () => client.end(),
      };
    },
  };
}

/** Fills a log with `VERIFY_EVENTS` events through Posture, then times verifying the store and an export. */
async function verifyMillion(dir, events, report) {
  const path = join(dir, 'million.db');
  let log = await openSqliteAuditLog({ path, maxBatch: BATCH, checkpointEvery: { events: 100_000 } });
  let next = 0;
  const fill = await sustain(
    { append: () => log.append(events[next++ % events.length]) },
    Infinity,
    IN_FLIGHT,
    VERIFY_EVENTS,
  );
  await log.close();
  report.note(
    `filled through the Posture SQLite log: ${format.count(fill.events)} events at ${format.count(fill.events / fill.seconds)}/s sustained`,
  );

  log = await openSqliteAuditLog({ path });
  const notes = (await log.checkpoints()).map((c) => c.note);
  let started = performance.now();
  const store = await verifyLog(log.entries(), notes, [log.verifierKey]);
  const storeSeconds = (performance.now() - started) / 1000;
  if (!store.ok || store.checked !== VERIFY_EVENTS)
    throw new Error(`the million-event log does not verify: ${store.reason}`);

  const file = join(dir, 'million.jsonl');
  await writeLines(file, exportAuditLog(log, { checkpoint: false }));
  const key = log.verifierKey;
  await log.close();
  started = performance.now();
  const exported = await verifyExportFile(file, [key]);
  const exportSeconds = (performance.now() - started) / 1000;
  if (!exported.ok || exported.checked !== VERIFY_EVENTS)
    throw new Error(`the export does not verify: ${exported.reason}`);

  const rows = [
    { name: 'SQLite store (entries())', seconds: storeSeconds },
    { name: 'exported JSON lines file', seconds: exportSeconds },
  ];
  report.table(rows, [
    ['verify', (r) => r.name],
    ['seconds', (r) => r.seconds.toFixed(2)],
    ['events/s', (r) => format.count(VERIFY_EVENTS / r.seconds)],
  ]);
  report.set('verify', {
    events: VERIFY_EVENTS,
    store_seconds: storeSeconds,
    export_seconds: exportSeconds,
    checkpoints: notes.length,
  });
  return { store: storeSeconds, export: exportSeconds };
}

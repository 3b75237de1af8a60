// Moves WAL pages into the database file from a worker thread with its own connection, instead of
// letting SQLite do it inside a COMMIT on the main thread (its automatic checkpoint writes and
// flushes the pages while every append waits). PASSIVE checkpoints never block writers; if the
// thread fails, the connection goes back to SQLite's automatic checkpoints.
import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Checkpoint once the WAL holds this much (SQLite's default: 1000 pages of 4 KiB). */
const WAL_BYTES = 4 * 1024 * 1024;
const POLL_MS = 25;

// Plain JavaScript, evaluated in the worker: no module of this package is loaded there.
const SOURCE = `
const { workerData } = require('node:worker_threads');
const { statSync } = require('node:fs');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
db.pragma('synchronous = FULL');
const wal = workerData.path + '-wal';
setInterval(() => {
  let size = 0;
  try { size = statSync(wal).size; } catch { return; }
  if (size >= workerData.walBytes) db.pragma('wal_checkpoint(PASSIVE)');
}, workerData.pollMs);
`;

export interface WalCheckpointer {
  stop(): Promise<void>;
}

/** Turns off automatic checkpoints on `db` and runs them from a worker thread. */
export function startWalCheckpointer(
  db: Database.Database,
  path: string,
  busyTimeoutMs: number,
): WalCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  let worker: Worker | undefined;
  try {
    worker = new Worker(SOURCE, {
      eval: true,
      workerData: { driver, path, busyTimeoutMs, walBytes: WAL_BYTES, pollMs: POLL_MS },
    });
  } catch {
    return { stop: async () => {} };
  }
  worker.unref();
  db.pragma('wal_autocheckpoint = 0');
  const fallBack = () => {
    if (db.open) db.pragma('wal_autocheckpoint = 1000');
  };
  worker.on('error', fallBack);
  worker.on('exit', fallBack);
  return {
    async stop() {
      worker.off('exit', fallBack);
      await worker.terminate();
    },
  };
}

// Console login sessions in memory and in SQLite: the ConsoleSessions contract
// (sessions.conformance.ts; the PostgreSQL run is sessions.postgres.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe } from 'vitest';
import { createMemoryConsoleSessions, openSqliteConsoleSessions } from '../src/sessions.js';
import { defineConsoleSessionsContract } from './sessions.conformance.js';
import { dumpSqlite } from './dumps.js';

const folder = mkdtempSync(join(tmpdir(), 'posture-console-sessions-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('memory console sessions', () => {
  defineConsoleSessionsContract({
    shared: false,
    fresh: async () => ({ open: async () => createMemoryConsoleSessions() }),
  });
});

describe('sqlite console sessions', () => {
  defineConsoleSessionsContract({
    shared: true,
    fresh: async () => {
      const path = join(folder, `sessions-${Math.random()}.db`);
      return { open: async () => openSqliteConsoleSessions(path), dump: async () => dumpSqlite(path) };
    },
  });
});

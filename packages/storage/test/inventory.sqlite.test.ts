// The inventory contract on SQLite files: each test gets a new file; several stores share one.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteInventory } from '../src/sqlite/inventory.js';
import { defineInventoryContract } from './conformance/inventory.js';

const folder = mkdtempSync(join(tmpdir(), 'posture-inventory-sqlite-'));
let files = 0;

afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('sqlite inventory', () => {
  defineInventoryContract({
    persistent: true,
    fresh: async () => {
      const path = join(folder, `inventory-${files++}.db`);
      return { open: async () => openSqliteInventory(path) };
    },
  });

  it('keeps its schema version in a table of its own, beside other stores in one file', async () => {
    const path = join(folder, 'shared.db');
    const db = new Database(path);
    db.exec('CREATE TABLE other_store (x INTEGER)');
    db.close();
    await openSqliteInventory(path).close();
    await openSqliteInventory(path).close();
    const check = new Database(path, { readonly: true });
    try {
      expect(check.prepare('SELECT version FROM posture_inventory_schema').all()).toEqual([{ version: 1 }]);
      expect(check.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      check.close();
    }
  });

  it('names the file when it is not a database, and leaves it as it was', () => {
    const path = join(folder, 'corrupt.db');
    writeFileSync(path, 'not a database '.repeat(100));
    expect(() => openSqliteInventory(path)).toThrow(
      `cannot open inventory \`${path}\`: file is not a database`,
    );
    expect(readFileSync(path, 'utf8')).toMatch(/^not a database/);
  });

  it('does not create a missing file when told not to', () => {
    const path = join(folder, 'missing.db');
    expect(() => openSqliteInventory(path, { create: false })).toThrow(`no inventory at \`${path}\``);
  });

  it('refuses a schema newer than it knows', async () => {
    const path = join(folder, 'newer.db');
    await openSqliteInventory(path).close();
    const db = new Database(path);
    db.prepare("INSERT INTO posture_inventory_schema (version, applied_at) VALUES (7, 'x')").run();
    db.close();
    expect(() => openSqliteInventory(path)).toThrow(
      'inventory schema version `7` is newer than this posture supports (`1`)',
    );
  });
});

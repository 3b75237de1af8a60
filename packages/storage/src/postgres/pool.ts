// The pg driver is loaded when a PostgreSQL store is opened, so a gateway that uses none does not
// carry it.
import type pg from 'pg';

export async function newPool(config: pg.PoolConfig): Promise<pg.Pool> {
  const { default: driver } = await import('pg');
  return new driver.Pool(config);
}

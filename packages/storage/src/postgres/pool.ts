// The pg driver is loaded when a PostgreSQL store is opened, so a gateway that uses none does not
// carry it.
import type pg from 'pg';

export async function newPool(config: pg.PoolConfig): Promise<pg.Pool> {
  const { default: driver } = await import('pg');
  return new driver.Pool(config);
}

const ignore = () => {};

/**
 * Guards a client checked out of the pool: a connection that drops between its queries emits
 * `error` on the client (the next query fails and says so), which must not end the process.
 * Returns what removes the guard, to call before releasing the client.
 */
export function guardClient(client: pg.PoolClient): () => void {
  client.on('error', ignore);
  return () => client.off('error', ignore);
}

// Where the tests find PostgreSQL and Redis, and whether they may skip without them: a suite that
// needs a server is skipped, with the reason printed, only outside CI; in CI it runs and fails.
import pg from 'pg';
import { Redis } from 'ioredis';

export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ci = process.env.CI !== undefined && !['', '0', 'false'].includes(process.env.CI);

export interface Service {
  url: string;
  /** Why the server cannot be reached, or undefined when it can. */
  problem: string | undefined;
  /** Skip the suite: the server is away and this is not CI. */
  skip: boolean;
}

async function reach(name: string, url: string, what: string, probe: () => Promise<void>): Promise<Service> {
  let problem: string | undefined;
  try {
    await probe();
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  const skip = problem !== undefined && !ci;
  if (skip) console.warn(`skipping the ${name} ${what} tests: cannot reach ${url}: ${problem}`);
  return { url, problem, skip };
}

/** Probes the PostgreSQL server once; `what` names the suite in the skip notice. */
export function postgres(what: string): Promise<Service> {
  return reach('PostgreSQL', POSTGRES_URL, what, async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
    } finally {
      await client.end().catch(() => {});
    }
  });
}

export function redis(what: string): Promise<Service> {
  return reach('Redis', REDIS_URL, what, async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
    } finally {
      client.disconnect();
    }
  });
}

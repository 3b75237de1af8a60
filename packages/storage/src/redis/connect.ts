// Opening a Redis connection for a store: ioredis, loaded only when a Redis store is opened (a
// gateway that uses none does not carry it).
import type { Redis, RedisOptions } from 'ioredis';

/** The URL without its password, for error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * A connected client, or an error naming `what` and the URL (without its password). A command
 * fails after the first lost connection instead of queueing for ever: the caller refuses (fail
 * closed) rather than hangs. Reconnecting is ioredis's job; failed commands report to callers.
 */
export async function connectRedis(url: string, what: string, options?: RedisOptions): Promise<Redis> {
  const { Redis: Client } = await import('ioredis');
  const client = new Client(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    ...options,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (error) {
    client.disconnect();
    throw new Error(`cannot open ${what} on redis at \`${redactUrl(url)}\`: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

// What every message relay checks of what it carries.

/** The most a relayed message may weigh, as JSON (PostgreSQL's NOTIFY allows under 8000 bytes). */
export const MAX_RELAYED_BYTES = 64 * 1024;

/** A relayed message as published, or undefined for anything else on the channel. */
export function parseRelayed(text: string): { session: string; message: unknown } | undefined {
  try {
    const value = JSON.parse(text) as { session?: unknown; message?: unknown };
    if (typeof value.session !== 'string' || typeof value.message !== 'object' || value.message === null) {
      return undefined;
    }
    return { session: value.session, message: value.message };
  } catch {
    return undefined;
  }
}

// @posture/console: the HTTP API and web UI over Posture's evidence store; the approvals desk.
export const CONSOLE_CLIENT_DIR = new URL('../dist/client/', import.meta.url);

export {
  CONSOLE_ROUTES,
  SESSION_COOKIE,
  serveConsole,
  type ConsoleOptions,
  type ConsoleServer,
  type RouteAccess,
} from './server.js';
export {
  createMemoryConsoleSessions,
  openSqliteConsoleSessions,
  type Challenge,
  type ChallengeScope,
  type ConsoleSession,
  type ConsoleSessions,
} from './sessions.js';
export { openPostgresConsoleSessions, type PostgresConsoleSessionsOptions } from './postgres/sessions.js';
export { openPostgresConsoleUsers, type PostgresConsoleUsersOptions } from './postgres/users.js';
export type { PostgresConsoleOptions } from './postgres/schema.js';
export { ConsoleKeyError } from './secrets.js';
export {
  DEFAULT_CONSOLE_KEY,
  DEFAULT_SCRYPT_COST,
  ROLES,
  createMemoryConsoleUsers,
  countSqliteConsoleUsers,
  openSqliteConsoleUsers,
  type ConsoleUser,
  type ConsoleUsers,
  type ConsoleUsersOptions,
  type Role,
  type ScryptCost,
  type WebAuthnCredential,
} from './users.js';

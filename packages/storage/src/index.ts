// @posture/storage: evidence and state behind small ports, one folder per backend.
export type {
  AppendOptions,
  AuditEvent,
  AuditFilter,
  AuditLog,
  Checkpoint,
  EventKind,
  LoggedEvent,
  OpenCall,
  Outcome,
  StoredEvent,
} from './ports.js';
export { EVENT_KINDS, OUTCOMES } from './ports.js';

export {
  EMPTY_ROOT,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from './merkle/tree.js';
export { MerkleFrontier, type FrontierJson } from './merkle/frontier.js';
export {
  generateSignerKey,
  openCheckpoint,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  signNote,
  type NoteSigner,
  type NoteVerifier,
  type OpenedCheckpoint,
} from './merkle/checkpoint.js';

export { storedEventLeaf, storedEventText } from './audit/leaf.js';
export type { AuditLogOptions, CheckpointEvery } from './audit/options.js';
export {
  createEvidenceRedactor,
  type EvidenceRedactionOptions,
  type EvidenceRedactor,
} from './audit/redaction.js';
export { verifyLog, type VerifiableEvent, type VerifyResult } from './audit/verify.js';
export {
  exportAuditLog,
  verifyExport,
  verifyExportFile,
  type ExportOptions,
  type VerifyExportOptions,
} from './audit/export.js';
export { OCSF_VERSION, toOcsf } from './export/ocsf.js';
export {
  createMemoryAuditLog,
  createMemoryAuditStore,
  type MemoryAuditLogOptions,
  type MemoryAuditRecord,
  type MemoryAuditStore,
} from './memory/audit-log.js';
export {
  DEFAULT_DATABASE_PATH,
  openSqliteAuditLog,
  type SqliteAuditLog,
  type SqliteAuditLogOptions,
} from './sqlite/audit-log.js';
export {
  openPostgresAuditLog,
  type PostgresAuditLog,
  type PostgresAuditLogOptions,
} from './postgres/audit-log.js';

export type {
  ApprovalDecision,
  ApprovalQueue,
  ApprovalRefusal,
  ApprovalRequest,
  ApprovalResult,
  ApprovalStatus,
  BoundCall,
  ExceptionRevokeResult,
  ExceptionStore,
  NewApproval,
  NewException,
  StandingException,
} from './ports.js';
export { DEFAULT_MAX_EXCEPTION_MS, deciderRefusal } from './approval-rules.js';
export {
  createMemoryApprovalQueue,
  createMemoryExceptionStore,
  type MemoryExceptionStoreOptions,
} from './memory/approval-queue.js';
export {
  openSqliteApprovalQueue,
  openSqliteExceptionStore,
  type SqliteApprovalsOptions,
  type SqliteExceptionStoreOptions,
} from './sqlite/approval-queue.js';
export {
  openPostgresApprovalQueue,
  openPostgresExceptionStore,
  type PostgresApprovalsOptions,
  type PostgresExceptionStoreOptions,
} from './postgres/approval-queue.js';

export type { Counters } from './ports.js';
export {
  DEFAULT_OPTIMISTIC_ATTEMPTS,
  DEFAULT_SESSION_TTL_MS,
  type CountersOptions,
} from './counter-records.js';
export { createMemoryCounters, type MemoryCountersOptions } from './memory/counters.js';
export { DEFAULT_REDIS_PREFIX, openRedisCounters, type RedisCountersOptions } from './redis/counters.js';
export { openPostgresCounters, type PostgresCountersOptions } from './postgres/counters.js';
export { openSqliteCounters, type SqliteCountersOptions } from './sqlite/counters.js';

export type {
  Inventory,
  InventoryAgent,
  InventoryServer,
  InventoryTool,
  ToolApprovalResult,
  ToolDefinition,
  ToolSighting,
  ToolStatus,
  ToolVersion,
} from './ports.js';
export { toolDefinition, toolDefinitionHash } from './inventory-rules.js';
export { createMemoryInventory } from './memory/inventory.js';
export { openSqliteInventory, type SqliteInventoryOptions } from './sqlite/inventory.js';
export { openPostgresInventory, type PostgresInventoryOptions } from './postgres/inventory.js';
export { approvalEvent } from './audit/approval-event.js';

export type { SessionOpenResult, SessionRecord, SessionStore, TokenRevocation } from './ports.js';
export { MAX_SESSION_JSON } from './session-rules.js';
export { createMemorySessionStore, type MemorySessionStoreOptions } from './memory/sessions.js';
export { openSqliteSessionStore, type SqliteSessionStoreOptions } from './sqlite/sessions.js';
export { openRedisSessionStore, type RedisSessionStoreOptions } from './redis/sessions.js';
export { openPostgresSessionStore, type PostgresSessionStoreOptions } from './postgres/sessions.js';
export type { MessageRelay } from './ports.js';
export { openRedisRelay, type RedisRelayOptions } from './redis/relay.js';
export { openPostgresRelay } from './postgres/relay.js';
export { migrateSchema } from './postgres/schema.js';
export { guardClient } from './postgres/pool.js';

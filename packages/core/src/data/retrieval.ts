import { groupMembership, usersOf } from '../policy/catalog.js';
import type { PolicyFile } from '../policy/schema.js';

// Retrieval access control: which of the documents and resources a retrieval returned the acting
// user may see. The same semantics are generated as PostgreSQL row-level security by `rls.ts`;
// both must agree row for row (test/e2e/rls.test.ts checks it against a real server).
//
// A declared user may see a document iff
//   - the user is its owner, or
//   - its classification (or `data.retrieval.default` when it has none) is declared, the user is
//     among that classification's readers, and the document names no groups or the user belongs
//     to at least one of them (groups resolved through `users.*.groups` and nested `groups.*.members`).
// Everything else is withheld (fail closed): an unknown classification, no classification and no
// default, a user the policy does not declare, labels of the wrong type.

/** The labels of one document or resource. Group names are plain (`finance`, not `group:finance`). */
export interface DocumentLabels {
  owner?: string | null;
  groups?: readonly string[] | null;
  classification?: string | null;
}

/** The policy's `data.retrieval`, prepared so that a check is a few set lookups. */
export interface RetrievalAccess {
  /** Every declared user with the groups they belong to, nested groups resolved. */
  readonly groups: ReadonlyMap<string, ReadonlySet<string>>;
  /** Every declared classification with the users who may read it (`*` and groups expanded). */
  readonly readers: ReadonlyMap<string, ReadonlySet<string>>;
  /** The classification of documents that carry none; absent: such documents are withheld. */
  readonly defaultClassification: string | undefined;
  /** Whether `user` may see a document with these labels (`undefined`: an unlabelled document). */
  canRead(user: string, labels: DocumentLabels | undefined): boolean;
}

interface UserView {
  groups: ReadonlySet<string>;
  /** The classifications this user is a reader of. */
  classifications: ReadonlySet<string>;
}

/**
 * Prepares `data.retrieval` of a schema-valid policy; `undefined` when the policy has none, in
 * which case retrieval results are not filtered by labels.
 */
export function compileRetrieval(policy: PolicyFile): RetrievalAccess | undefined {
  const retrieval = policy.data.retrieval;
  if (!retrieval) return undefined;
  const membership = groupMembership(policy);
  const everyone = [...membership.keys()];
  const readers = new Map<string, ReadonlySet<string>>();
  for (const [classification, { readers: principals }] of Object.entries(retrieval.classifications)) {
    const users = usersOf(
      principals.filter((p) => p !== '*'),
      membership,
    );
    if (principals.includes('*')) for (const user of everyone) users.add(user);
    readers.set(classification, users);
  }
  const views = new Map<string, UserView>();
  for (const [user, groups] of membership) {
    const classifications = new Set<string>();
    for (const [classification, users] of readers) if (users.has(user)) classifications.add(classification);
    views.set(user, { groups, classifications });
  }
  const fallback = retrieval.default;
  return {
    groups: membership,
    readers,
    defaultClassification: fallback,
    canRead(user, labels) {
      const view = views.get(user);
      if (view === undefined) return false;
      if (labels === undefined || labels === null) {
        return fallback !== undefined && view.classifications.has(fallback);
      }
      if (typeof labels !== 'object' || Array.isArray(labels)) return false;
      const { owner, groups, classification } = labels;
      if (owner === user) return true;
      // Each label is checked for its type: these come from other systems, as JSON.
      const effective = classification ?? fallback;
      if (typeof effective !== 'string' || !view.classifications.has(effective)) return false;
      if (groups === undefined || groups === null) return true;
      if (!Array.isArray(groups)) return false;
      if (groups.length === 0) return true;
      let member = false;
      for (const group of groups as readonly unknown[]) {
        if (typeof group !== 'string') return false;
        if (view.groups.has(group)) member = true;
      }
      return member;
    },
  };
}

/** Keeps the documents `user` may see; says how many it withheld, never which. */
export function filterDocuments<T>(
  access: RetrievalAccess,
  user: string,
  docs: readonly T[],
  labelsOf: (doc: T) => DocumentLabels | undefined,
): { kept: T[]; withheld: number } {
  const kept = docs.filter((doc) => access.canRead(user, labelsOf(doc)));
  return { kept, withheld: docs.length - kept.length };
}

/** Anything that carries MCP `_meta`: a resource of `resources/list`, a content of `resources/read`. */
export interface LabelledResource {
  uri?: string;
  _meta?: { [key: string]: unknown } | undefined;
}

/**
 * The key under an MCP resource's `_meta` that holds its labels:
 * `{ "_meta": { "posture": { "owner": "carol", "groups": ["finance"], "classification": "confidential" } } }`.
 * The upstream server that owns the data sets it; a resource without it is unlabelled.
 */
export const RESOURCE_LABELS_KEY = 'posture';

/** Whether `user` may see an MCP resource (or one content of `resources/read`), by `_meta.posture`. */
export function canReadResource(access: RetrievalAccess, user: string, resource: LabelledResource): boolean {
  const meta: unknown = resource._meta;
  if (meta === undefined || meta === null) return access.canRead(user, undefined);
  if (!isRecord(meta)) return false;
  return canReadLabels(access, user, [meta[RESOURCE_LABELS_KEY]]);
}

/** Filters a `resources/list` result; the returned result is a copy, the input is not changed. */
export function filterResourceList<T extends { resources: readonly LabelledResource[] }>(
  access: RetrievalAccess,
  user: string,
  result: T,
): { result: T; withheld: number } {
  const resources = result.resources.filter((r) => canReadResource(access, user, r));
  return { result: { ...result, resources }, withheld: result.resources.length - resources.length };
}

/**
 * Filters the contents of a `resources/read` result by their own `_meta.posture`. A gateway that
 * learnt a resource's labels from `resources/list` should also check those with `canReadResource`
 * before forwarding the read; when every content is withheld, answer as for an unknown resource.
 */
export function filterResourceRead<T extends { contents: readonly LabelledResource[] }>(
  access: RetrievalAccess,
  user: string,
  result: T,
): { result: T; withheld: number } {
  const contents = result.contents.filter((c) => canReadResource(access, user, c));
  return { result: { ...result, contents }, withheld: result.contents.length - contents.length };
}

/** The top-level keys of a retrieval tool's result that hold its list of documents. */
export const DOCUMENT_LIST_KEYS = ['documents', 'results', 'items'] as const;

export type RetrievalFilterResult =
  | {
      ok: true;
      /** The result without the withheld documents, in the form it came in (object or JSON text). */
      value: unknown;
      kept: number;
      withheld: number;
    }
  | {
      ok: false;
      /** The result is not a list of documents this filter understands: withhold all of it. */
      code: 'retrieval.not_json' | 'retrieval.no_documents';
      message: string;
    };

/**
 * Filters the result of a retrieval tool (`structuredContent`, or the JSON text of a text
 * content): the documents are a top-level array, or the arrays under `documents`, `results` and
 * `items`; each document's labels are its `labels` object and/or its `_meta.posture` object (when
 * both are present, both must allow). A document with neither is unlabelled; an entry that is not
 * an object, or labels that are not an object, are withheld. Other top-level fields pass unchanged.
 *
 * Fails closed: when no document list is found the answer is `ok: false`, and the caller must
 * withhold the whole result rather than pass it on unfiltered.
 */
export function filterRetrievalResult(
  access: RetrievalAccess,
  user: string,
  structuredContentOrJson: unknown,
): RetrievalFilterResult {
  const text = typeof structuredContentOrJson === 'string';
  let value: unknown = structuredContentOrJson;
  if (text) {
    try {
      value = JSON.parse(structuredContentOrJson) as unknown;
    } catch {
      return { ok: false, code: 'retrieval.not_json', message: 'the retrieval result is not JSON' };
    }
  }
  let kept = 0;
  let withheld = 0;
  const filter = (docs: readonly unknown[]): unknown[] => {
    const out = docs.filter((doc) => canReadDocument(access, user, doc));
    kept += out.length;
    withheld += docs.length - out.length;
    return out;
  };
  let filtered: unknown;
  if (Array.isArray(value)) filtered = filter(value);
  else if (isRecord(value) && DOCUMENT_LIST_KEYS.some((key) => Array.isArray(value[key]))) {
    const record = value;
    const copy: Record<string, unknown> = { ...record };
    for (const key of DOCUMENT_LIST_KEYS) {
      const list = record[key];
      if (Array.isArray(list)) copy[key] = filter(list);
    }
    filtered = copy;
  } else {
    return {
      ok: false,
      code: 'retrieval.no_documents',
      message: `the retrieval result has no top-level list of documents (${DOCUMENT_LIST_KEYS.map((k) => `\`${k}\``).join(', ')})`,
    };
  }
  return { ok: true, value: text ? JSON.stringify(filtered) : filtered, kept, withheld };
}

function canReadDocument(access: RetrievalAccess, user: string, doc: unknown): boolean {
  if (!isRecord(doc)) return false;
  const meta = doc._meta;
  if (meta === undefined || meta === null) return canReadLabels(access, user, [doc.labels]);
  if (!isRecord(meta)) return false;
  return canReadLabels(access, user, [doc.labels, meta[RESOURCE_LABELS_KEY]]);
}

/** Every label object present must allow; none present is an unlabelled document. */
function canReadLabels(access: RetrievalAccess, user: string, candidates: unknown[]): boolean {
  let labelled = false;
  for (const labels of candidates) {
    if (labels === undefined || labels === null) continue;
    if (!isRecord(labels)) return false;
    labelled = true;
    if (!access.canRead(user, labels as DocumentLabels)) return false;
  }
  return labelled || access.canRead(user, undefined);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

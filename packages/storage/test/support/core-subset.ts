// What storage takes from the core, for child processes (see ts-hooks.mjs): the canonical JSON and
// the data layer's detector and redaction, without the policy loader (ajv, zod, yaml).
export { canonicalJson } from '../../../core/src/text.js';
export { createDetector, redact } from '../../../core/src/data/index.js';

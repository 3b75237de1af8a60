// The data layer: detectors for secrets and personal data, redaction, custom-pattern checks.
export {
  createDetector,
  type Detector,
  type DetectorOptions,
  type Family,
  type Finding,
} from './detector.js';
export { redact, type RedactOptions, type Redaction, type RedactionMode, type Removed } from './redact.js';
export { hashValue } from './hash.js';
export { checkPattern, type PatternCheck } from './patterns.js';
export {
  SECRET_CLASSES,
  PII_CLASSES,
  LIMIT_CLASSES,
  type SecretClass,
  type PiiClass,
  type LimitClass,
  type BuiltinClass,
} from './classes.js';
export { DOCUMENTED_EXAMPLES } from './examples.js';

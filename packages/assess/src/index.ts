// @posture/assess: posture assessment — discovery, checks, scores, reports, attack replay.
export {
  KNOWN_IDS,
  MITRE_ATLAS,
  OWASP_AGENTIC_2026,
  OWASP_LLM_2025,
  SOURCES,
  type AtlasTechnique,
  type TaxonomyEntry,
} from './taxonomy.js';

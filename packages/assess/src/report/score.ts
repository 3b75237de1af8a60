import { PILLARS, type Check, type Evidence, type Pillar, type Severity } from '../checks/types.js';

/** Points a failing check takes from its pillar, by severity. */
export const SEVERITY_WEIGHT: Record<Severity, number> = {
  critical: 40,
  high: 20,
  medium: 10,
  low: 5,
  info: 0,
};

export const SCORE_FORMULA =
  'each pillar starts at 100 and loses, once per failing check (not per occurrence), 40 for critical, 20 for high, 10 for medium, 5 for low; a pillar never drops below 0; the overall score is the mean of the six pillars, rounded';

export interface Finding {
  id: string;
  title: string;
  severity: Severity;
  pillar: Pillar;
  owasp: readonly string[];
  asi: readonly string[];
  atlas: readonly string[];
  remediation: string;
  evidence: Evidence[];
  /** Points taken from the pillar, and how. */
  penalty: number;
  score: string;
}

export interface Scores {
  overall: number;
  pillars: Record<Pillar, number>;
}

export function toFinding(check: Check, evidence: Evidence[]): Finding {
  const penalty = SEVERITY_WEIGHT[check.severity];
  return {
    id: check.id,
    title: check.title,
    severity: check.severity,
    pillar: check.pillar,
    owasp: check.owasp,
    asi: check.asi,
    atlas: check.atlas,
    remediation: check.remediation,
    evidence,
    penalty,
    score: `−${penalty} ${check.pillar} (${check.severity}, ${evidence.length} occurrence${evidence.length === 1 ? '' : 's'})`,
  };
}

export function score(findings: readonly Finding[]): Scores {
  const pillars = Object.fromEntries(PILLARS.map((p) => [p, 100])) as Record<Pillar, number>;
  for (const finding of findings)
    pillars[finding.pillar] = Math.max(0, pillars[finding.pillar] - finding.penalty);
  const overall = Math.round(PILLARS.reduce((sum, p) => sum + pillars[p], 0) / PILLARS.length);
  return { overall, pillars };
}

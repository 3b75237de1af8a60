import { describe, expect, it } from 'vitest';
import { CHECKS, KNOWN_IDS, PILLARS, SEVERITIES, scan, type ScanReport } from '../src/index.js';
import { FIXTURES, writeCase } from './scan-helpers.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const ids = (report: ScanReport) => report.findings.map((f) => f.id);
// Checks whose fixtures need a running server (`--connect`): see connect.test.ts.
const CONNECT_ONLY = new Set(['PST-011']);

describe('the checks registry', () => {
  it('has at least 30 checks with unique stable ids', () => {
    expect(CHECKS.length).toBeGreaterThanOrEqual(30);
    expect(new Set(CHECKS.map((c) => c.id)).size).toBe(CHECKS.length);
    for (const check of CHECKS) expect(check.id).toMatch(/^PST-\d{3}$/);
  });

  it('maps every check to known OWASP LLM 2025, ASI and ATLAS ids', () => {
    for (const check of CHECKS) {
      expect(SEVERITIES).toContain(check.severity);
      expect(PILLARS).toContain(check.pillar);
      expect(check.owasp.length + check.asi.length + check.atlas.length, check.id).toBeGreaterThan(0);
      for (const id of [...check.owasp, ...check.asi, ...check.atlas])
        expect(KNOWN_IDS.has(id), `${check.id}: ${id}`).toBe(true);
      for (const id of check.owasp) expect(id).toMatch(/^LLM\d\d:2025$/);
      for (const id of check.asi) expect(id).toMatch(/^ASI\d\d$/);
      for (const id of check.atlas) expect(id).toMatch(/^AML\.T\d{4}/);
      expect(check.title.length).toBeGreaterThan(0);
      expect(check.remediation.length).toBeGreaterThan(0);
    }
  });

  it('covers every pillar', () => {
    expect(new Set(CHECKS.map((c) => c.pillar))).toEqual(new Set(PILLARS));
  });

  it('has a case for every check but the --connect ones', () => {
    const missing = CHECKS.map((c) => c.id).filter((id) => !(id in FIXTURES.cases) && !CONNECT_ONLY.has(id));
    expect(missing).toEqual([]);
  });
});

describe('the clean fixture', () => {
  it('scores 100 with no finding', async () => {
    const report = await scan(await writeCase({}), { now: NOW });
    expect(report.findings).toEqual([]);
    expect(report.scores.overall).toBe(100);
    expect(report.servers).toBeGreaterThan(0);
  });
});

describe.each(Object.entries(FIXTURES.cases))('%s', (id, { fires, passes }) => {
  it('fires on its fixture', async () => {
    const report = await scan(await writeCase(fires), { now: NOW });
    expect(ids(report)).toContain(id);
    const finding = report.findings.find((f) => f.id === id)!;
    expect(finding.evidence.length).toBeGreaterThan(0);
    expect(finding.score).toContain(`−${finding.penalty}`);
  });

  it('does not fire on its near miss', async () => {
    const report = await scan(await writeCase(passes), { now: NOW });
    expect(ids(report)).not.toContain(id);
    // A near miss that broke the policy would pass for the wrong reason.
    if (id !== 'PST-037') expect(ids(report)).not.toContain('PST-037');
    if (id !== 'PST-064') expect(ids(report)).not.toContain('PST-064');
  });
});

import { describe, expect, it } from 'vitest';
import { KNOWN_IDS, MITRE_ATLAS, OWASP_AGENTIC_2026, OWASP_LLM_2025 } from '../src/index.js';

describe('taxonomies', () => {
  it('hold the ten OWASP LLM 2025 entries with year-qualified ids', () => {
    expect(OWASP_LLM_2025.map((e) => e.id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `LLM${String(i + 1).padStart(2, '0')}:2025`),
    );
    expect(OWASP_LLM_2025.find((e) => e.id === 'LLM06:2025')?.name).toBe('Excessive Agency');
  });

  it('hold ASI01–ASI10 keyed on the id, with the released names', () => {
    expect(OWASP_AGENTIC_2026.map((e) => e.id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `ASI${String(i + 1).padStart(2, '0')}`),
    );
    expect(OWASP_AGENTIC_2026[0]!.name).toBe('Agent Goal Hijack');
  });

  it('hold ATLAS techniques with well-formed ids and tactics, and the old name of AML.T0053', () => {
    for (const t of MITRE_ATLAS) {
      expect(t.id).toMatch(/^AML\.T\d{4}(\.\d{3})?$/);
      for (const tactic of t.tactics) expect(tactic).toMatch(/^AML\.TA\d{4}$/);
    }
    expect(MITRE_ATLAS.find((t) => t.id === 'AML.T0053')).toMatchObject({
      name: 'AI Agent Tool Invocation',
      aliases: ['LLM Plugin Compromise'],
    });
    expect(MITRE_ATLAS.find((t) => t.id === 'AML.T0108')?.name).toBe('AI Agent');
  });

  it('name every id once', () => {
    const all = [...OWASP_LLM_2025, ...OWASP_AGENTIC_2026, ...MITRE_ATLAS].map((e) => e.id);
    expect(new Set(all).size).toBe(all.length);
    expect(KNOWN_IDS.size).toBe(all.length);
  });
});

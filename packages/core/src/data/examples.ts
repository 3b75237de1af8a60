// Values published in vendor documentation as examples. They are public, grant nothing and
// identify no one, so they are not findings: a README that quotes AWS's example key is not a
// leak. Any AWS access key id ending in `EXAMPLE` is treated the same way (engine.ts).

const EXAMPLES = new Set([
  // AWS IAM user guide
  'AKIAIOSFODNN7EXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
  // Stripe API reference
  'sk_test_4eC39HqLyjWDarjtT1zdp7dc',
  'sk_test_BQokikJOvBiI2HlWgH4olfQ2',
  // jwt.io
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  // payment networks' and processors' published test card numbers
  '4242424242424242',
  '4111111111111111',
  '4012888888881881',
  '4000056655665556',
  '5555555555554444',
  '5105105105105100',
  '2223003122003222',
  '378282246310005',
  '371449635398431',
  '6011111111111117',
  '6011000990139424',
  '3530111333300000',
  '3566002020360505',
  '30569309025904',
  '38520000023237',
  '6200000000000005',
  // SSNs the Social Security Administration names as invalid examples
  '078051120',
  '219099999',
]);

/** Whether `s[start, end)` (separators ignored for numbers) is a documented example value. */
export function isDocumentedExample(s: string, start: number, end: number): boolean {
  const text = s.slice(start, end);
  if (EXAMPLES.has(text)) return true;
  const c = text.charCodeAt(0);
  return c >= 48 && c <= 57 && EXAMPLES.has(text.replace(/[ .-]/g, ''));
}

export const DOCUMENTED_EXAMPLES: readonly string[] = [...EXAMPLES];

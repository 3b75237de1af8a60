// Hand-written corpus cases: real-world shapes the generator does not produce. Positives are
// template parts as in labelled.js (`[class, value]` marks a labelled value); negatives are texts
// with nothing to find. None of the values are real credentials.

export const HAND_POSITIVES = [
  ['ssh -i key.pem ubuntu@', ['ipv4', '34.201.18.77']],
  ['X-Forwarded-For: ', ['ipv4', '203.0.113.195'], ', ', ['ipv4', '70.41.3.18']],
  ['password: ', ['secret_assignment', 'Zq7!vR2#mW9xKp']],
  ['"password":"', ['secret_assignment', 'hunter2-But-Longer-77'], '"'],
  ['spring.datasource.password=', ['secret_assignment', 'S3cr3t-Pr0d-2024!']],
  ['redis://:', ['url_password', 'p4ssW0rd9xQ2'], '@cache.internal:6379/0'],
  ['Reach Jane at ', ['email', 'jane.doe@acme-corp.io'], ' or ', ['phone', '+44 20 7946 0958'], '.'],
  ['Wire to ', ['iban', 'GB82 WEST 1234 5698 7654 32'], ' (ref INV-2291)'],
  ['Konto: ', ['iban', 'DE89370400440532013000']],
  ['card=', ['payment_card', '4539 1488 0343 6467'], '&cvc=123'],
  ['Customer SSN ', ['us_ssn', '123-45-6789'], ' on file'],
  ['listen [', ['ipv6', '2001:db8:85a3::8a2e:370:7334'], ']:8080'],
  ['aws_secret_access_key=', ['aws_secret_key', 'Xe3kQ8vZpR2mT7yLw9HbN4cJfD6sG1aUoK5iE0qB']],
  [
    'heroku config:set SENDGRID_API_KEY=',
    ['sendgrid_key', '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'],
  ],
  [
    '{"text": "deploy done", "token": "',
    ['slack_token', 'xoxb-2619812345-4112223334445-AbCdEfGhIjKlMnOpQrStUvWx'],
    '"}',
  ],
];

export const HAND_NEGATIVES = [
  'See RFC 5737: 192.0.2.0/24 is for documentation; so is 2001:db8::/32.',
  'The build took 1.23.456 seconds.',
  'Call stack: at Object.<anonymous> (/app/server.js:12:5)',
  'Use `password` as the field name and `token` as the header.',
  'export const API_KEY_HEADER = "x-api-key";',
  'if (password.length < 12) throw new Error("password too short");',
  'const token = await getToken();',
  'for key, value in secrets.items():',
  'UPDATE users SET password_hash = $1 WHERE id = $2',
  'jwt.verify(token, publicKey, { algorithms: ["RS256"] })',
  'The price is 1,299.00 USD (was 1,499.00).',
  'Phone numbers look like +1 555 0100 in the docs.',
  'Serial: 0000-0000-0000-0000',
  'Range 10.0.0.0/8 is private.',
  'hash: $2b$12$KIXQJ1h8q7Zc3f9Zq7Zc3uY1l5r8s0t2v4w6y8A0C2E4G6I8K0M2O',
  'x = 1234 5678 9012 3456 - 1',
  'lat 48.8566, lon 2.3522',
  'Version 10.0.19045.3693 of Windows',
  '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8eYNBJ7v1nlYsVbbO0ZwF3qK1yR8oV0w\n-----END PUBLIC KEY-----',
  '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQk5Q3kE6b2m0c1xH7gq9dQ2Lr3owCgYIKoZIzj0EAwIw\n-----END CERTIFICATE-----',
];

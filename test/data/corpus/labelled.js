// The labelled corpus: positives (texts carrying one or more sensitive values of a known class, at
// known offsets) and hard negatives (texts that look like secrets or personal data but are not:
// UUIDs, git SHAs, hashes, base64 blobs, version strings, published documentation examples,
// identifiers, placeholders, numbers failing their checksum). Generated from a fixed seed by the
// synthesizer, plus the hand-written cases in `hand.js`, so every run scores the same texts.
import {
  ALNUM,
  BASE64,
  BASE64URL,
  DIGITS,
  HEX,
  LOWER,
  UPPER,
  base64,
  createRng,
  ibanWithCheck,
  luhnCheckDigit,
  pem,
  values,
} from './synth.js';
import { HAND_NEGATIVES, HAND_POSITIVES } from './hand.js';

/** Which family each labelled class belongs to. */
export const FAMILIES = {
  aws_access_key: 'secrets',
  aws_secret_key: 'secrets',
  gcp_service_account_key: 'secrets',
  gcp_api_key: 'secrets',
  azure_connection_string: 'secrets',
  github_token: 'secrets',
  gitlab_token: 'secrets',
  slack_token: 'secrets',
  slack_webhook: 'secrets',
  stripe_key: 'secrets',
  openai_key: 'secrets',
  anthropic_key: 'secrets',
  npm_token: 'secrets',
  sendgrid_key: 'secrets',
  private_key: 'secrets',
  jwt: 'secrets',
  url_password: 'secrets',
  secret_assignment: 'secrets',
  email: 'pii',
  phone: 'pii',
  payment_card: 'pii',
  iban: 'pii',
  us_ssn: 'pii',
  ipv4: 'pii',
  ipv6: 'pii',
};

/**
 * A sample from a template: `parts` alternate literal text and labelled values
 * (`[class, value]`), so every label's offsets are exact.
 */
export function sample(id, parts, note = '') {
  let text = '';
  const labels = [];
  for (const part of parts) {
    if (typeof part === 'string') text += part;
    else {
      const [cls, value] = part;
      labels.push({ class: cls, start: text.length, end: text.length + value.length });
      text += value;
    }
  }
  return { id, text, labels, note };
}

const PER_CLASS = 14;

// Contexts a value of each class shows up in. `v` is the labelled value, `L` labels it.
const CONTEXTS = {
  aws_access_key: [
    (L) => ['aws_access_key_id = ', L()],
    (L) => ['{"AccessKeyId": "', L(), '", "Expiration": "2025-06-02T10:00:00Z"}'],
    (L) => ['The deploy user is ', L(), ', rotate it monthly.'],
    (L) => ['export AWS_ACCESS_KEY_ID=', L()],
  ],
  aws_secret_key: [
    (L, rng) => [
      'aws_access_key_id = ',
      ['aws_access_key', values.aws_access_key(rng)],
      '\naws_secret_access_key = ',
      L(),
    ],
    (L) => ['AWS_SECRET_ACCESS_KEY=', L()],
    (L) => ['{"SecretAccessKey": "', L(), '"}'],
    (L, rng) => [
      'Access key ID,Secret access key\n',
      ['aws_access_key', values.aws_access_key(rng)],
      ',',
      L(),
      '\n',
    ],
  ],
  gcp_api_key: [
    (L) => ['const firebaseConfig = { apiKey: "', L(), '", projectId: "acme-prod" };'],
    (L) => ['GET https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key=', L()],
    (L) => ['GOOGLE_API_KEY=', L()],
  ],
  github_token: [
    (L) => ['git clone https://x-access-token:', L(), '@github.com/acme/app.git'],
    (L) => ['GITHUB_TOKEN=', L()],
    (L) => ['Authorization: token ', L()],
    (L) => ['I pasted my token ', L(), ' by mistake'],
  ],
  gitlab_token: [
    (L) => ['PRIVATE-TOKEN: ', L()],
    (L) => ['gitlab_token = "', L(), '"'],
    (L) => ['curl --header "PRIVATE-TOKEN: ', L(), '" https://gitlab.example.com/api/v4/projects'],
  ],
  slack_token: [
    (L) => ['SLACK_BOT_TOKEN=', L()],
    (L) => ['const slack = new WebClient("', L(), '");'],
    (L) => ['token in the log: ', L()],
  ],
  slack_webhook: [
    (L) => ['curl -X POST -H "Content-type: application/json" --data \'{"text":"hi"}\' ', L()],
    (L) => ['webhook_url: ', L()],
    (L) => ['Post alerts to ', L(), ' please'],
  ],
  stripe_key: [
    (L) => ['STRIPE_SECRET_KEY=', L()],
    (L) => ['const stripe = require("stripe")("', L(), '");'],
    (L) => ['curl https://api.stripe.com/v1/charges -u ', L(), ':'],
  ],
  openai_key: [
    (L) => ['OPENAI_API_KEY=', L()],
    (L) => ['client = OpenAI(api_key="', L(), '")'],
    (L) => ['Authorization: Bearer ', L()],
  ],
  anthropic_key: [
    (L) => ['ANTHROPIC_API_KEY=', L()],
    (L) => ['-H "x-api-key: ', L(), '"'],
    (L) => ['my key is ', L(), ' do not share'],
  ],
  npm_token: [
    (L) => ['//registry.npmjs.org/:_authToken=', L()],
    (L) => ['NPM_TOKEN=', L()],
    (L) => ['publish with ', L()],
  ],
  sendgrid_key: [
    (L) => ['SENDGRID_API_KEY=', L()],
    (L) => ["sg.setApiKey('", L(), "');"],
    (L) => ['Authorization: Bearer ', L()],
  ],
  private_key: [(L) => ['', L(), '\n'], (L) => ['key.pem:\n', L(), '\n\n'], (L) => ['ssh_key: |\n', L()]],
  jwt: [
    (L) => ['Authorization: Bearer ', L()],
    (L) => ['{"id_token": "', L(), '"}'],
    (L) => ['Cookie: session=', L(), '; Path=/'],
  ],
  email: [
    (L) => ['Contact ', L(), ' for access.'],
    (L) => ['From: Support <', L(), '>'],
    (L) => ['{"customer_email": "', L(), '"}'],
    (L) => ['cc: ', L(), ', ops-team'],
  ],
  phone: [
    (L) => ['Call me at ', L(), ' tomorrow.'],
    (L) => ['{"phone": "', L(), '"}'],
    (L) => ['Tel: ', L()],
  ],
  payment_card: [
    (L) => ['Card: ', L(), ' exp 09/27'],
    (L) => ['{"card_number": "', L(), '"}'],
    (L) => ['paid with ', L(), ' yesterday'],
  ],
  iban: [
    (L) => ['IBAN: ', L()],
    (L) => ['Please transfer to ', L(), ' by Friday.'],
    (L) => ['{"iban": "', L(), '"}'],
  ],
  us_ssn: [
    (L) => ['SSN: ', L()],
    (L) => ['{"ssn": "', L(), '"}'],
    (L) => ['her social security number is ', L(), '.'],
  ],
  ipv4: [
    (L) => ['client ', L(), ' connected'],
    (L) => ['{"remote_addr": "', L(), '"}'],
    (L) => ['ssh admin@', L()],
    (L) => ['Failed password for root from ', L(), ' port 52144 ssh2'],
  ],
  ipv6: [
    (L) => ['client [', L(), ']:443 connected'],
    (L) => ['{"ip": "', L(), '"}'],
    (L) => ['inet6 ', L(), ' scope global'],
  ],
};

/** Classes whose values need a context or are built from several parts. */
const COMPOSED = {
  gcp_service_account_key(rng, i) {
    const keyId = rng.chars(HEX, 40);
    const key = pem(rng, 'PRIVATE KEY', rng.int(600, 1200)).replace(/\n/g, '\\n');
    const project = `acme-${rng.chars(LOWER, 6)}`;
    return sample(`gcp_service_account_key-${i}`, [
      `{\n  "type": "service_account",\n  "project_id": "${project}",\n  "private_key_id": "`,
      keyId,
      '",\n  "private_key": "',
      ['gcp_service_account_key', key],
      '\\n",\n  "client_email": "',
      ['email', `deployer@${project}.iam.gserviceaccount.com`],
      `",\n  "client_id": "${rng.chars(DIGITS, 21)}"\n}\n`,
    ]);
  },
  azure_connection_string(rng, i) {
    const account = `acme${rng.chars(LOWER, 6)}`;
    return rng.pick([
      () =>
        sample(`azure_connection_string-${i}`, [
          `DefaultEndpointsProtocol=https;AccountName=${account};AccountKey=`,
          ['azure_connection_string', values.azure_account_key(rng)],
          ';EndpointSuffix=core.windows.net',
        ]),
      () =>
        sample(`azure_connection_string-${i}`, [
          `Endpoint=sb://${account}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=`,
          ['azure_connection_string', values.azure_sas_key(rng)],
        ]),
      () =>
        sample(`azure_connection_string-${i}`, [
          `AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=${account};AccountKey=`,
          ['azure_connection_string', values.azure_account_key(rng)],
          '"',
        ]),
    ])();
  },
  url_password(rng, i) {
    const password = values.password(rng).replace(/[@:/#?%]/g, '');
    const user = rng.pick(['app', 'admin', 'deploy', 'svc_reports', 'postgres']);
    const host = rng.pick(['db.internal', '10.0.3.7', 'redis.acme.io', 'cluster0.ab1cd.mongodb.net']);
    const scheme = rng.pick(['postgres', 'postgresql', 'mysql', 'mongodb+srv', 'redis', 'amqp', 'https']);
    return sample(
      `url_password-${i}`,
      rng.pick([
        () => [`DATABASE_URL=${scheme}://${user}:`, ['url_password', password], `@${host}/app`],
        () => [`connecting to ${scheme}://${user}:`, ['url_password', password], `@${host}:5432 …`],
        () => [`{"dsn": "${scheme}://${user}:`, ['url_password', password], `@${host}/prod?ssl=true"}`],
      ])(),
    );
  },
  secret_assignment(rng, i) {
    const value = rng.pick([
      () => values.password(rng),
      () => rng.chars(ALNUM, rng.int(24, 40)),
      () => rng.chars(HEX, 32),
      () => base64(rng.bytes(rng.int(18, 32))),
    ])();
    const key = rng.pick([
      'password',
      'DB_PASSWORD',
      'api_key',
      'client_secret',
      'secret',
      'auth_token',
      'passwd',
    ]);
    return sample(
      `secret_assignment-${i}`,
      rng.pick([
        () => [`${key}=`, ['secret_assignment', value]],
        () => [`${key}: "`, ['secret_assignment', value], '"'],
        () => [`{"${key}": "`, ['secret_assignment', value], '"}'],
        () => [`  ${key.toLowerCase()}: `, ['secret_assignment', value], '\n'],
        () => [`export ${key.toUpperCase()}='`, ['secret_assignment', value], "'"],
      ])(),
    );
  },
};

/** Values for the classes generated by `values` in synth.js. */
function valueOf(cls, rng) {
  return values[cls](rng);
}

export function positives(seed = 3) {
  const rng = createRng(seed);
  const out = [];
  for (const cls of Object.keys(FAMILIES)) {
    for (let i = 0; i < PER_CLASS; i++) {
      if (COMPOSED[cls]) {
        out.push(COMPOSED[cls](rng, i));
        continue;
      }
      const contexts = CONTEXTS[cls];
      const context = contexts[i % contexts.length];
      const parts = context(() => [cls, valueOf(cls, rng)], rng);
      out.push(sample(`${cls}-${i}`, parts));
    }
  }
  // IPv4 hosts inside URL passwords are labelled too (they are addresses)
  for (const s of out) {
    const at = s.text.indexOf('@10.0.3.7');
    if (at >= 0) s.labels.push({ class: 'ipv4', start: at + 1, end: at + 9 });
  }
  return [...out, ...HAND_POSITIVES.map((parts, i) => sample(`hand-positive-${i}`, parts))];
}

function uuid(rng) {
  const h = rng.chars(HEX, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${rng.pick(['8', '9', 'a', 'b'])}${h.slice(17, 20)}-${h.slice(20)}`;
}

/** Hard negatives: shapes close to secrets and personal data that are neither. */
const NEGATIVES = {
  uuid: (rng) =>
    rng.pick([
      `request id ${uuid(rng)}`,
      `{"id": "${uuid(rng)}"}`,
      `/api/v1/orders/${uuid(rng).toUpperCase()}`,
    ]),
  git_sha: (rng) =>
    rng.pick([
      `commit ${rng.chars(HEX, 40)}`,
      `Merge ${rng.chars(HEX, 7)}..${rng.chars(HEX, 7)}`,
      `"sha": "${rng.chars(HEX, 40)}"`,
      `git checkout ${rng.chars(HEX, 12)}`,
    ]),
  hash: (rng) =>
    rng.pick([
      `sha256:${rng.chars(HEX, 64)}`,
      `md5sum ${rng.chars(HEX, 32)}  release.tar.gz`,
      `"integrity": "sha512-${base64(rng.bytes(64))}"`,
      `etag: "${rng.chars(HEX, 32)}"`,
      `image: ghcr.io/acme/api@sha256:${rng.chars(HEX, 64)}`,
    ]),
  base64_blob: (rng) =>
    rng.pick([
      `data:image/png;base64,${base64(rng.bytes(rng.int(60, 300)))}`,
      `"thumbnail": "${base64(rng.bytes(rng.int(30, 120)))}"`,
      `Content: ${base64(rng.bytes(rng.int(40, 200)))}`,
      `nonce=${base64(rng.bytes(16))}`,
    ]),
  version: (rng) =>
    rng.pick([
      `"version": "${rng.int(0, 20)}.${rng.int(0, 40)}.${rng.int(0, 99)}"`,
      `node v${rng.int(16, 24)}.${rng.int(0, 20)}.${rng.int(0, 9)}`,
      `Chrome/${rng.int(100, 140)}.0.${rng.int(1000, 7000)}.${rng.int(10, 200)} Safari/537.36`,
      `release ${rng.int(1, 9)}.${rng.int(0, 9)}.${rng.int(0, 9)}.${rng.int(0, 999)}`,
      `upgrade from 2.${rng.int(0, 9)}.${rng.int(0, 9)}-beta.${rng.int(1, 9)} to 3.0.0-rc.1`,
    ]),
  identifier: (rng) =>
    rng.pick([
      `const ${rng.pick(['getUserAccountById', 'parseRefreshTokenResponse', 'validatePasswordStrength', 'buildSecretManagerClient'])} = () => null;`,
      `order ord_${rng.chars(ALNUM, 14)} created`,
      `customer cus_${rng.chars(ALNUM, 14)}`,
      `trace_id=${rng.chars(HEX, 32)} span_id=${rng.chars(HEX, 16)}`,
      `build #${rng.int(1000, 99999)} on runner ${rng.chars(LOWER, 6)}-${rng.chars(DIGITS, 4)}`,
      `arn:aws:iam::${rng.chars(DIGITS, 12)}:role/deploy`,
      `ticket SUP-${rng.int(1000, 99999)}`,
      `i-${rng.chars(HEX, 17)} in ${rng.pick(['eu-west-1', 'us-east-2'])}`,
      `${rng.chars(UPPER, 4)}_${rng.chars(UPPER, 6)}_${rng.chars(UPPER, 5)}_TIMEOUT_MS=${rng.int(100, 9000)}`,
    ]),
  number: (rng) =>
    rng.pick([
      `total: ${rng.int(1, 99999)}.${rng.chars(DIGITS, 2)} EUR`,
      `timestamp ${rng.int(1_600_000_000_000, 1_760_000_000_000)}`,
      `on 2025-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')} at 09:${rng.int(10, 59)}`,
      `latency p99 ${rng.int(100, 999)}.${rng.chars(DIGITS, 3)} ms over ${rng.int(10000, 999999)} requests`,
      `order number ${rng.chars(DIGITS, 8)}`,
      `pi = 3.${rng.chars(DIGITS, 15)}`,
      `ISBN 978-${rng.int(0, 9)}-${rng.chars(DIGITS, 3)}-${rng.chars(DIGITS, 5)}-${rng.int(0, 9)}`,
      `coords ${rng.int(10, 60)}.${rng.chars(DIGITS, 6)}, ${rng.int(10, 60)}.${rng.chars(DIGITS, 6)}`,
    ]),
  bad_checksum(rng) {
    // card numbers and IBANs with a wrong check digit, SSNs outside the issued ranges
    const body = `4${rng.chars(DIGITS, 14)}`;
    const wrong = String((Number(luhnCheckDigit(body)) + rng.int(1, 9)) % 10);
    const iban = ibanWithCheck('DE', rng.chars(DIGITS, 18));
    const badIban =
      iban.slice(0, 2) +
      String((Number(iban.slice(2, 4)) + rng.int(1, 50)) % 100).padStart(2, '0') +
      iban.slice(4);
    return rng.pick([
      `card ${body}${wrong}`,
      `IBAN ${badIban === iban ? `${iban.slice(0, -1)}${(Number(iban.at(-1)) + 1) % 10}` : badIban}`,
      `SSN ${rng.pick(['000', '666', '900', '987'])}-${rng.chars(DIGITS, 2)}-${rng.chars(DIGITS, 4)}`,
      `SSN ${rng.int(100, 899)}-00-${rng.chars(DIGITS, 4)}`,
    ]);
  },
  placeholder: (rng) =>
    rng.pick([
      'password=changeme',
      'api_key=${API_KEY}',
      'token: <your-token-here>',
      'DB_PASSWORD={{ secrets.DB_PASSWORD }}',
      'secret: "********"',
      'client_secret = os.environ["CLIENT_SECRET"]',
      'password: process.env.DB_PASSWORD',
      'AWS_SECRET_ACCESS_KEY=your-secret-access-key',
      'api_key = "YOUR_API_KEY"',
      'password = "xxxxxxxxxxxx"',
      'postgres://user:password@localhost:5432/db',
      'https://user:${PASSWORD}@example.com',
      `GITHUB_TOKEN=ghp_${'x'.repeat(36)}`,
      'secret: %s',
      'password=',
      'token = get_token(request)',
      `password_policy=${rng.pick(['strict', 'lenient', 'default'])}`,
      `max_tokens: ${rng.int(256, 8192)}`,
      `token_count=${rng.int(1, 99999)}`,
      'passwordless: true',
      `primary_key = "${rng.pick(['id', 'user_id', 'order_id'])}"`,
      `public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${base64(rng.bytes(24))} ${rng.pick(['ada', 'ken'])}@laptop`,
      'auth: required',
      `keyboard: ${rng.pick(['us', 'de', 'fr'])}`,
      `secret_name: ${rng.pick(['prod/db', 'stripe-webhook', 'api-credentials'])}`,
      'token_type: Bearer',
    ]),
  not_contact: (rng) =>
    rng.pick([
      'git@github.com:acme/api.git',
      `npm install @acme/${rng.pick(['core', 'cli', 'ui'])}@${rng.int(1, 9)}.${rng.int(0, 9)}.0`,
      'assets/logo@2x.png',
      'see https://example.com/docs/v2/#section-3.1',
      `meeting at 10:${rng.int(10, 59)}, room 4.${rng.int(10, 40)}`,
      '@decorator def handler(): pass',
      `localhost:${rng.int(3000, 9000)}`,
      'netmask 255.255.255.0',
      'OID 1.3.6.1.4.1.311.21.8',
      `std::vector<int>::iterator it = v.begin();`,
      `color: #${rng.chars(HEX, 6)};`,
      `MAC ${Array.from({ length: 6 }, () => rng.chars(HEX, 2)).join(':')}`,
      `time ${rng.int(10, 23)}:${rng.int(10, 59)}:${rng.int(10, 59)}`,
      `a::b::c`,
      `fn main() -> Result<(), Box<dyn Error>> {`,
    ]),
  documented_example: (rng) =>
    rng.pick([
      'aws_access_key_id = AKIAIOSFODNN7EXAMPLE',
      'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'AKIAIOSFODNN7EXAMPLE',
      `${'AKIA'}${rng.chars(UPPER + '234567', 9)}EXAMPLE`,
      'Use the test card 4242 4242 4242 4242 with any future date.',
      'Test card: 4111111111111111',
      'stripe.api_key = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"',
      'Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
      'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
      'Amex test number 378282246310005',
      'SSN 078-05-1120 (the Woolworth wallet card)',
    ]),
  prose: (rng) =>
    rng.pick([
      'The secret to a good deploy is a small diff.',
      'Please reset your password from the account page.',
      'Tokens expire after 15 minutes; refresh them with the refresh endpoint.',
      'The API key is stored in the vault, not in this repository.',
      `We shipped ${rng.int(2, 40)} fixes in release ${rng.int(1, 9)}.${rng.int(0, 9)}.`,
      'Passwords must be at least 12 characters long.',
      'Rotate the credentials: see runbook section 4.2.',
      'Set the auth header to the value from the secrets manager.',
    ]),
  random_token: (rng) =>
    rng.pick([
      `request ${rng.chars(ALNUM, 24)}`,
      `cache key: ${rng.pick(['user', 'order'])}:${rng.chars(HEX, 16)}`,
      `file ${rng.chars(LOWER + DIGITS, 10)}.${rng.pick(['js', 'css', 'map'])}`,
      `${rng.chars(BASE64URL, 22)}`,
      `upload_id=${rng.chars(ALNUM, 32)}`,
      `idempotency_key: ${uuid(rng)}`,
      `session_id=${rng.chars(HEX, 32)}`,
      `/static/js/main.${rng.chars(HEX, 8)}.chunk.js`,
      `${rng.chars(BASE64, 40)}`,
    ]),
};

export function negatives(seed = 11) {
  const rng = createRng(seed);
  const out = [];
  const kinds = Object.keys(NEGATIVES);
  for (let i = 0; i < 400; i++) {
    const kind = kinds[i % kinds.length];
    out.push({ id: `${kind}-${i}`, text: NEGATIVES[kind](rng), labels: [], note: kind });
  }
  return [
    ...out,
    ...HAND_NEGATIVES.map((text, i) => ({ id: `hand-negative-${i}`, text, labels: [], note: 'hand' })),
  ];
}

/** The whole corpus: positives first, then negatives. */
export function labelledCorpus() {
  return [...positives(), ...negatives()];
}

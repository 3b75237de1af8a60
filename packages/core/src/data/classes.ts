// The built-in detector classes and their families. Names are stable: policies, audit events and
// dashboards refer to them.

export const SECRET_CLASSES = [
  'aws_access_key',
  'aws_secret_key',
  'gcp_service_account_key',
  'gcp_api_key',
  'azure_connection_string',
  'github_token',
  'gitlab_token',
  'slack_token',
  'slack_webhook',
  'stripe_key',
  'openai_key',
  'anthropic_key',
  'npm_token',
  'sendgrid_key',
  'private_key',
  'jwt',
  'url_password',
  'secret_assignment',
] as const;

export const PII_CLASSES = ['email', 'phone', 'payment_card', 'iban', 'us_ssn', 'ipv4', 'ipv6'] as const;

/** Markers for parts of a value the walker did not scan; redaction always replaces them. */
export const LIMIT_CLASSES = ['depth_limit', 'cycle', 'node_limit'] as const;

export type SecretClass = (typeof SECRET_CLASSES)[number];
export type PiiClass = (typeof PII_CLASSES)[number];
export type LimitClass = (typeof LIMIT_CLASSES)[number];
export type BuiltinClass = SecretClass | PiiClass;

export const BUILTIN_CLASSES: readonly BuiltinClass[] = [...SECRET_CLASSES, ...PII_CLASSES];

// Numeric ids used by the engine's hit buffer, in BUILTIN_CLASSES order; custom patterns follow.
export const C = Object.fromEntries(BUILTIN_CLASSES.map((name, i) => [name, i])) as {
  readonly [K in BuiltinClass]: number;
};

/** Generic classes lose to a specific one on the same characters (a GitHub token inside a URL). */
export const GENERIC = new Set<number>([C.url_password, C.secret_assignment]);

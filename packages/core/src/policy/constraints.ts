import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** A compiled check of one argument against its JSON Schema. */
export interface ArgumentCheck {
  arg: string;
  /** The rule id of the constraint (`agents.bot.grants[2].when.amount`). */
  rule: string;
  validate: ValidateFunction;
}

export type CompileConstraint = (schema: unknown) => { validate?: ValidateFunction; error?: string };

// One ajv instance for the process, made on first use: an instance compiles the JSON Schema
// meta-schema (~20 ms) before its first schema, and it caches compiled schemas by content, so
// recompiling a policy on every change stays cheap. It holds no policy state.
let shared: Ajv | undefined;

function ajv(): Ajv {
  if (!shared) {
    // Strict schema mode rejects unknown keywords, so `maximun: 5` is an error rather than a
    // constraint that never applies.
    shared = new Ajv({ strictSchema: true, strictTypes: false, strictTuples: false, strictRequired: false });
    addFormats(shared);
  }
  return shared;
}

export function constraintCompiler(): CompileConstraint {
  return (schema) => {
    try {
      if (
        typeof schema !== 'boolean' &&
        (schema === null || typeof schema !== 'object' || Array.isArray(schema))
      ) {
        return { error: 'a constraint is a JSON Schema object' };
      }
      return { validate: ajv().compile(typed(schema as object | boolean)) };
    } catch (error) {
      return { error: String((error as Error).message).split('\n')[0] };
    }
  };
}

/** Why an argument failed, without echoing its value (it may be a secret). */
export function failureMessage(check: ArgumentCheck, value: unknown): string {
  if (value === undefined) return `argument \`${check.arg}\` is missing, and the grant constrains it`;
  const error = check.validate.errors?.[0];
  const where = error?.instancePath ? `${check.arg}${error.instancePath.replace(/\//g, '.')}` : check.arg;
  const detail = error ? `${error.message ?? 'is invalid'}${describeParams(error.params)}` : 'is invalid';
  return `argument \`${where}\` ${detail}`;
}

function describeParams(params: Record<string, unknown>): string {
  if (Array.isArray(params.allowedValues))
    return `: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  return '';
}

const IMPLIED_TYPES: Array<[string, readonly string[]]> = [
  ['number', ['maximum', 'minimum', 'exclusiveMaximum', 'exclusiveMinimum', 'multipleOf']],
  ['string', ['pattern', 'minLength', 'maxLength', 'format']],
  ['array', ['items', 'minItems', 'maxItems', 'uniqueItems', 'contains']],
  ['object', ['properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties']],
];

/**
 * JSON Schema ignores `maximum: 500` for a value that is not a number, so `"amount": "9999"`
 * would pass. A constraint written without `type` gets the type its keywords imply: fail closed.
 */
function typed(schema: object | boolean): object | boolean {
  if (typeof schema === 'boolean') return schema;
  const out: Record<string, unknown> = { ...schema };
  if (out.type === undefined && out.const === undefined && out.enum === undefined) {
    const implied = IMPLIED_TYPES.filter(([, keywords]) => keywords.some((k) => k in out)).map(
      ([type]) => type,
    );
    if (implied.length === 1) out.type = implied[0];
  }
  if (out.properties && typeof out.properties === 'object') {
    out.properties = Object.fromEntries(
      Object.entries(out.properties).map(([key, value]) => [key, typed(value as object | boolean)]),
    );
  }
  if (out.items && typeof out.items === 'object' && !Array.isArray(out.items))
    out.items = typed(out.items as object);
  return out;
}

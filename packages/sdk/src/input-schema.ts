// Arguments checked against the tool's own input schema before anything is forwarded (OWASP
// LLM05): a call the tool would reject, or misread, never reaches it. Schemas come from the
// policy or from upstream `tools/list` and are compiled once per definition.
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** Why the arguments do not fit, naming the field and the rule, never the value; undefined when they fit. */
export type ArgumentsCheck = (args: Record<string, unknown>) => string | undefined;

export class InputSchemas {
  // Upstream schemas are someone else's: unknown keywords are tolerated, not refused.
  readonly #draft7 = addFormats(new Ajv({ strict: false, allErrors: false }));
  readonly #draft2020 = addFormats(new Ajv2020({ strict: false, allErrors: false }));
  readonly #checks = new WeakMap<object, ArgumentsCheck | null>();

  /** The check for `schema`; undefined when there is none or it does not compile (then nothing is checked). */
  checkFor(schema: Record<string, unknown> | undefined): ArgumentsCheck | undefined {
    if (!schema) return undefined;
    let check = this.#checks.get(schema);
    if (check === undefined) {
      check = this.#compile(schema);
      this.#checks.set(schema, check);
    }
    return check ?? undefined;
  }

  #compile(schema: Record<string, unknown>): ArgumentsCheck | null {
    let validate: ValidateFunction;
    try {
      const ajv = String(schema.$schema ?? '').includes('2020-12') ? this.#draft2020 : this.#draft7;
      validate = ajv.compile(schema);
    } catch {
      return null;
    }
    return (args) => {
      if (validate(args)) return undefined;
      const error = validate.errors?.[0];
      if (!error) return 'the arguments do not match the tool’s input schema';
      const where =
        error.instancePath === '' ? 'the arguments' : `\`args${error.instancePath.replace(/\//g, '.')}\``;
      if (error.keyword === 'required')
        return `${where} lack the required \`${String(error.params.missingProperty)}\``;
      if (error.keyword === 'additionalProperties') {
        return `${where} carry \`${String(error.params.additionalProperty)}\`, which the tool does not take`;
      }
      return `${where} ${error.message ?? 'do not match the tool’s input schema'}`;
    };
  }
}

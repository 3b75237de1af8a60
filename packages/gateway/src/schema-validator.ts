// The JSON Schema validator the gateway's MCP servers share. The SDK gives every `Server` its own
// Ajv instance unless told otherwise — tens of kilobytes per agent session, for a validator a
// session uses only to check an elicitation answer. One instance serves them all; compiled
// validators are kept by schema text (bounded), and Ajv's own cache, which is keyed by schema
// object and would grow with every elicitation, is emptied as soon as a schema is compiled.
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type {
  JsonSchemaType,
  JsonSchemaValidator,
  jsonSchemaValidator,
} from '@modelcontextprotocol/sdk/validation/types.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const MAX_COMPILED = 256;

export class SharedSchemaValidator implements jsonSchemaValidator {
  // As the SDK's default: unknown keywords tolerated, formats checked, every error reported.
  readonly #ajv = addFormats(
    new Ajv({ strict: false, validateFormats: true, validateSchema: false, allErrors: true }),
  );
  readonly #compiled = new Map<string, ValidateFunction>();

  getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
    const key = JSON.stringify(schema);
    let validate = this.#compiled.get(key);
    if (!validate) {
      validate = this.#ajv.compile(schema as object);
      this.#ajv.removeSchema(schema as object);
      if (this.#compiled.size >= MAX_COMPILED) this.#compiled.delete(this.#compiled.keys().next().value!);
      this.#compiled.set(key, validate);
    }
    const check = validate;
    return (input) =>
      check(input)
        ? { valid: true, data: input as T, errorMessage: undefined }
        : { valid: false, data: undefined, errorMessage: this.#ajv.errorsText(check.errors) };
  }
}

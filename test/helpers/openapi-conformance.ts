import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

/** The parts of the OpenAPI document (`/api/v1/openapi.json`) a conformance check reads. */
export interface OpenApiDoc {
  paths: Record<string, Record<string, any>>;
  components: { schemas: Record<string, any> };
  security: unknown;
}

const DOC_ID = 'https://maestro.test/openapi.json';

/**
 * Validators of the document's JSON success and error answers (Ajv, JSON Schema 2020-12 as OpenAPI 3.1
 * uses; formats not checked), with `#/components/...` references resolved in the document.
 */
export function responseValidators(doc: OpenApiDoc) {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema({ $id: DOC_ID, components: doc.components });
  return {
    /** The validator of `method path` (documented form, `/api/v1/tasks/{id}`) for `status`; throws when none is documented. */
    validatorOf(method: string, path: string, status: number): ValidateFunction {
      const schema = doc.paths[path]?.[method]?.responses?.[status]?.content?.['application/json']?.schema;
      if (!schema) throw new Error(`${method} ${path} documents no JSON answer for ${status}`);
      return ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${DOC_ID}#/components/`)));
    },
    /** Ajv's errors as one line. */
    errorsText: (v: ValidateFunction) => ajv.errorsText(v.errors),
  };
}

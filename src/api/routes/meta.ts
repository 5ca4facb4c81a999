import { z } from 'zod';
import type { OpenApiDocument } from '../openapi.js';
import type { RouteSpec } from '../route-table.js';

/** The OpenAPI document's outline as documented (its paths and schemas are JSON Schema / OpenAPI objects). */
export const OpenApiDocumentSchema = z.object({
  openapi: z.literal('3.1.0'),
  info: z.object({ title: z.string(), version: z.string(), description: z.string() }),
  servers: z.array(z.object({ url: z.string(), description: z.string().optional() })),
  security: z.array(z.record(z.string(), z.array(z.string()))),
  paths: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown()))).describe('path → method → OpenAPI operation'),
  components: z.object({
    schemas: z.record(z.string(), z.record(z.string(), z.unknown())).describe('name → JSON Schema (2020-12)'),
    securitySchemes: z.record(z.string(), z.record(z.string(), z.string())),
  }),
});

/** `GET /openapi.json` (contract 00 "Paths"): the document `document()` returns (built on first request). */
export function metaRoutes(document: () => OpenApiDocument): RouteSpec[] {
  return [
    {
      method: 'get', path: '/openapi.json', tag: 'meta', open: true, summary: 'This document (OpenAPI 3.1; no credential needed: it holds no data)', ok: [200, OpenApiDocumentSchema],
      handler: (_req, res) => {
        res.json(document());
      },
    },
  ];
}

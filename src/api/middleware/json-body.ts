import express, { type RequestHandler } from 'express';
import { ValidationError } from '../../shared/errors.js';

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The 4 hex digits at `i` as a number, or -1. */
function hex4(buf: Buffer, i: number): number {
  if (i + 4 > buf.length) return -1;
  const n = Number.parseInt(buf.toString('latin1', i, i + 4), 16);
  return Number.isNaN(n) ? -1 : n;
}

/**
 * What is wrong with a JSON text before it is parsed, in one pass over its bytes (O(bytes), no
 * allocation per byte): nesting deeper than `maxDepth` (deep arrays/objects overflow recursive code
 * later: a 500), or a `\uD800`–`\uDFFF` escape that is not half of a surrogate pair (a string no
 * UTF-8 store can hold: Redis scripts reject it). Undefined when neither (security issue 11, item 15).
 * Malformed JSON is left to the parser.
 */
export function jsonTextProblem(buf: Buffer, maxDepth: number): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (inString) {
      if (c === QUOTE) inString = false;
      else if (c === BACKSLASH) {
        if (buf[i + 1] === 0x75 /* u */) {
          const u = hex4(buf, i + 2);
          if (u >= 0xd800 && u <= 0xdbff) {
            const low = buf[i + 6] === BACKSLASH && buf[i + 7] === 0x75 ? hex4(buf, i + 8) : -1;
            if (low < 0xdc00 || low > 0xdfff) return 'a string holds a lone surrogate (\\uD800-\\uDBFF without its pair)';
            i += 11;
            continue;
          }
          if (u >= 0xdc00 && u <= 0xdfff) return 'a string holds a lone surrogate (\\uDC00-\\uDFFF without its pair)';
          i += 5;
        } else i++;
      }
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return `nesting deeper than ${maxDepth} levels (MAX_JSON_DEPTH)`;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return undefined;
}

/**
 * `express.json` with the body limit (BODY_LIMIT_BYTES → 413) and, before parsing, the checks of
 * `jsonTextProblem` → 400 VALIDATION_ERROR; nothing is read further and nothing written.
 */
export function jsonBody(limitBytes: number, maxDepth: number): RequestHandler {
  const parse = express.json({
    limit: limitBytes,
    verify: (_req, _res, buf) => {
      const problem = jsonTextProblem(buf, maxDepth);
      if (problem) throw new ValidationError(`Invalid JSON body: ${problem}`, [{ path: 'body', message: problem }]);
    },
  });
  // A request without a body (no Content-Length, no Transfer-Encoding: most GETs) is passed on as
  // body-parser would pass it (`req.body` undefined), without its checks.
  return (req, res, next) => {
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) next();
    else parse(req, res, next);
  };
}

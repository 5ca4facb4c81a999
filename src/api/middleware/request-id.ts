import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';

/** Accepts `X-Request-Id` (≤ 128 safe chars) or generates one; sets `req.id` and the response header. */
export const requestId: RequestHandler = (req, res, next) => {
  const given = req.get('x-request-id');
  const id = given && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
  req.id = id;
  res.setHeader('X-Request-Id', id);
  next();
};

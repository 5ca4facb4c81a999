// STUB — to be implemented (queue helper).
import { Router } from 'express';
import type { ApiDeps } from '../api-deps.js';

export function queueRoutes(_deps: ApiDeps): Router {
  return Router();
}

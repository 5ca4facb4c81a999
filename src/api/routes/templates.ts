// STUB — to be implemented (templates helper).
import { Router } from 'express';
import type { ApiDeps } from '../api-deps.js';

export function templateRoutes(_deps: ApiDeps): Router {
  return Router();
}

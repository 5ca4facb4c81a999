// STUB — to be implemented (skills helper).
import { Router } from 'express';
import type { ApiDeps } from '../api-deps.js';

export function skillRoutes(_deps: ApiDeps): Router {
  return Router();
}

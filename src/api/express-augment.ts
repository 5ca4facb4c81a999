import type { Principal } from '../shared/principal.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Request id (X-Request-Id), set by middleware/request-basics.ts. */
      id?: string;
      /** Acting principal, set by the auth seam. */
      principal?: Principal;
    }
  }
}

export {};

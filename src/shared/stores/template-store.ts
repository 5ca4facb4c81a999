// STUB — to be implemented (templates helper).
import type { StoreContext } from './store-context.js';

export class TemplateStore {
  constructor(readonly ctx: StoreContext) {}
  /** Seeds the default template of each role that has none (contract 01 "Template"). */
  async seedDefaults(): Promise<void> {}
}

import type { Command } from 'commander';
import type { Json } from '../api-client.js';
import { enc, type CliContext } from '../context.js';
import { printResult } from '../output.js';

const itemLine = (i: Json) => (i ? `${i.taskId} [${i.status}]` : '(none)');

/**
 * `maestro queue top|list|status|start|complete|fail|skip|push` on this session's queue (contract 09 §3).
 * `start` waits for an item when the queue is empty: it polls `/queue/top` every `--poll-interval`
 * seconds (10) for at most `--poll-timeout` minutes (30; both read with parseInt as the original, so 0
 * means forever) and starts one as soon as there is one; on timeout it prints
 * `{success:false, timedOut:true, message}` and exits 1. SIGINT/SIGTERM end the wait with exit 0.
 */
export function registerQueueCommands(program: Command, ctx: CliContext): void {
  const queue = program.command('queue').description("this session's task queue");
  const path = (op = '') => `/sessions/${enc(ctx.session())}/queue${op}`;
  queue.command('top').description('the next item').action(async () => printResult(await ctx.api().get(path('/top')), (r) => (r.hasMore ? `Next: ${itemLine(r.item)}` : r.message ?? 'Queue is empty')));
  queue.command('list').description('every item').action(async () => printResult(await ctx.api().get(path('/items')), (r) => r.items.map(itemLine).join('\n') || '(empty)'));
  queue
    .command('status')
    .description('the queue and its counts')
    .action(async () => printResult(await ctx.api().get(path()), (r) => `${r.stats.completed}/${r.stats.total} done; current: ${itemLine(r.queue.items[r.queue.currentIndex])}`));
  queue
    .command('start')
    .description('start the next item (waits for one when the queue is empty)')
    .option('--poll-interval <seconds>', 'seconds between checks', '10')
    .option('--poll-timeout <minutes>', 'minutes to wait (0 = forever)', '30')
    .option('--no-wait', 'return at once when the queue is empty')
    .action(async (o: { pollInterval: string; pollTimeout: string; wait: boolean }) => {
      const api = ctx.api();
      const intervalMs = (Number.parseInt(o.pollInterval, 10) || 0) * 1000;
      const timeoutMin = Number.parseInt(o.pollTimeout, 10) || 0;
      const deadline = timeoutMin ? Date.now() + timeoutMin * 60_000 : Infinity;
      const stop = () => process.exit(0);
      process.once('SIGINT', stop).once('SIGTERM', stop);
      let r = await api.post(path('/start'));
      while (r.item === null && o.wait) {
        if (Date.now() >= deadline) {
          printResult({ success: false, timedOut: true, message: `No task arrived in the queue within ${timeoutMin} minutes` }, (x) => x.message);
          process.exitCode = 1;
          return;
        }
        await new Promise((res) => setTimeout(res, Math.max(intervalMs, 10)));
        const top = await api.get(path('/top'));
        if (top.hasMore) r = await api.post(path('/start'));
      }
      printResult(r, (x) => x.message ?? `Started ${itemLine(x.item)}`);
    });
  queue.command('complete').description('complete the current item').action(async () => printResult(await ctx.api().post(path('/complete')), (r) => r.message));
  queue
    .command('fail')
    .description('fail the current item')
    .option('--reason <text>')
    .action(async (o: { reason?: string }) => printResult(await ctx.api().post(path('/fail'), o.reason ? { reason: o.reason } : {}), (r) => r.message));
  queue.command('skip').description('skip the current item').action(async () => printResult(await ctx.api().post(path('/skip')), (r) => r.message));
  queue
    .command('push <taskId>')
    .description('add a task to the queue')
    .action(async (taskId: string) => printResult(await ctx.api().post(path('/push'), { taskId }), (r) => `Queued ${itemLine(r.item)}`));
}

import type { Context } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';

/**
 * One INFO line per activity start (or retry, with its attempt), finish (with its time) and failure, in
 * the worker log: what an operator reads to follow a run without the UI. The SDK's own lines are DEBUG.
 */
export function activityLog(ctx: Context): ActivityInterceptors {
  return {
    inbound: {
      async execute(input, next) {
        const { activityType, attempt } = ctx.info;
        const started = Date.now();
        ctx.log.info(attempt > 1 ? `${activityType} retry, attempt ${attempt}` : `${activityType} started`);
        try {
          const result = await next(input);
          ctx.log.info(`${activityType} finished in ${((Date.now() - started) / 1000).toFixed(1)}s`);
          return result;
        } catch (err) {
          ctx.log.info(`${activityType} attempt ${attempt} failed: ${(err as Error).message}`);
          throw err;
        }
      },
    },
  };
}

/** /metrics for the whole machine: prom-client's cluster aggregator sums every worker's registry. */
import { AggregatorRegistry, type Registry } from 'prom-client';
import { requestPrimary } from './ipc.js';

export const METRICS_REQUEST = 'metrics';

/** Worker: answer the primary's metric requests with this registry. */
export function shareWorkerMetrics(registry: Registry): void {
  new AggregatorRegistry(); // adds the worker's listener for the primary's requests
  AggregatorRegistry.setRegistries([registry]);
}

/** Worker: every worker's metrics, aggregated by the primary. */
export async function clusterMetricsText(): Promise<string> {
  const text = await requestPrimary(METRICS_REQUEST, null, 8000);
  if (typeof text !== 'string') throw new Error('the primary sent no metrics');
  return text;
}

/** Primary: the aggregating registry (counters and gauges summed, lag averaged, …). */
export function createMetricsAggregator(): () => Promise<string> {
  const aggregator = new AggregatorRegistry();
  return () => aggregator.clusterMetrics();
}

/**
 * The few Prometheus metric types the server needs, rendered in the
 * Prometheus text exposition format (version 0.0.4) without a client library.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

type Labels = Record<string, string>;

function labelText(labels: Labels, extra?: [string, string]): string {
  const entries = Object.entries(labels);
  if (extra) entries.push(extra);
  if (entries.length === 0) return '';
  const escaped = entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return `{${escaped.join(',')}}`;
}

const keyOf = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort());

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels);
    const entry = this.#values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.#values.set(key, entry);
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.#values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

/** A value read when /metrics is scraped (`type` counter for a total kept elsewhere, such as CPU time). */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => number,
    readonly type: 'gauge' | 'counter' = 'gauge',
  ) {}

  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, `${this.name} ${this.read()}`].join('\n');
  }
}

/** Event-loop delay quantiles since the last scrape, as a Prometheus summary. */
class EventLoopDelay implements Metric {
  readonly name = 'crossrank_event_loop_delay_seconds';
  readonly #histogram: IntervalHistogram;

  constructor() {
    this.#histogram = monitorEventLoopDelay({ resolution: 10 });
    this.#histogram.enable();
  }

  render(): string {
    const h = this.#histogram;
    // Nanoseconds; NaN-free even before the first sample.
    const seconds = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
    const lines = [
      `# HELP ${this.name} Event-loop delay since the previous scrape (sampled every 10 ms)`,
      `# TYPE ${this.name} summary`,
      ...[0.5, 0.9, 0.99].map((q) => `${this.name}{quantile="${q}"} ${seconds(h.count > 0 ? h.percentile(q * 100) : 0)}`),
      `${this.name}_max ${seconds(h.count > 0 ? h.max : 0)}`,
    ];
    h.reset();
    return lines.join('\n');
  }

  dispose(): void {
    this.#histogram.disable();
  }
}

export class Histogram implements Metric {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  /** `buckets`: upper bounds, ascending; +Inf is implied. */
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    const key = keyOf(labels);
    let series = this.#series.get(key);
    if (!series) {
      series = { labels, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.#series.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(`${this.name}_bucket${labelText(labels, ['le', String(bound)])} ${counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText(labels, ['le', '+Inf'])} ${count}`);
      lines.push(`${this.name}_sum${labelText(labels)} ${sum}`);
      lines.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return lines.join('\n');
  }
}

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Every metric the server exports. */
export class ServerMetrics {
  readonly requests = new Counter('crossrank_requests_total', 'HTTP requests answered, by endpoint and status code');
  readonly requestSeconds = new Histogram(
    'crossrank_request_duration_seconds',
    'Time from a request arriving to its answer, by endpoint',
    SECONDS,
  );
  readonly pairs = new Counter('crossrank_pairs_total', 'Query-document pairs scored');
  readonly tokens = new Counter('crossrank_tokens_total', 'Tokens of the pairs scored, special tokens included');
  readonly dropped = new Counter('crossrank_requests_dropped_total', 'Requests whose queued work was dropped, by reason');
  readonly batchPairs = new Histogram('crossrank_batch_pairs', 'Pairs per engine batch', [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
  readonly batchTokens = new Histogram(
    'crossrank_batch_tokens',
    'Tokens per engine batch',
    [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
  );
  readonly queueWait = new Histogram(
    'crossrank_queue_wait_seconds',
    'Time from a request being queued to its first pair reaching the engine',
    SECONDS,
  );
  readonly computeSeconds = new Histogram('crossrank_batch_compute_seconds', 'Engine time per batch', SECONDS);
  readonly heldRequests = new Counter(
    'crossrank_requests_held_total',
    'Requests sent again on a connection before the Retry-After it was given, held until then',
  );
  readonly refusedConnections = new Counter(
    'crossrank_connections_refused_total',
    'Connections answered 503 at once because every allowed connection had a request in progress',
  );
  readonly #gauges: Gauge[];
  readonly #eventLoop = new EventLoopDelay();

  constructor(queuedPairs: () => number, inFlightRequests: () => number, openConnections: () => number) {
    this.#gauges = [
      new Gauge('crossrank_queued_pairs', 'Pairs waiting for the engine', queuedPairs),
      new Gauge('crossrank_in_flight_requests', 'Requests being answered', inFlightRequests),
      new Gauge('crossrank_open_connections', 'Open client connections', openConnections),
      // The process beside the engine: memory, CPU (all threads, the engine's included).
      new Gauge('process_resident_memory_bytes', 'Resident set size of the process', () => process.memoryUsage.rss()),
      new Gauge(
        'process_cpu_seconds_total',
        'User and system CPU time of the process, every thread',
        () => {
          const { user, system } = process.cpuUsage();
          return (user + system) / 1e6;
        },
        'counter',
      ),
    ];
  }

  /** Stops sampling the event loop (the server has closed). */
  dispose(): void {
    this.#eventLoop.dispose();
  }

  render(): string {
    const all: Metric[] = [
      this.requests,
      this.requestSeconds,
      this.pairs,
      this.tokens,
      this.dropped,
      this.batchPairs,
      this.batchTokens,
      this.queueWait,
      this.computeSeconds,
      this.heldRequests,
      this.refusedConnections,
      ...this.#gauges,
      this.#eventLoop,
    ];
    return `${all.map((m) => m.render()).join('\n')}\n`;
  }
}

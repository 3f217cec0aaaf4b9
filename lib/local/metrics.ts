/**
 * Prometheus metrics for local mode, in the text exposition format 0.0.4. Counters live in this
 * process; gauges about orgs are computed from the registry at scrape time. Labels carry org ids,
 * outcomes and error codes, never a token.
 */
import type { OrgStatus, OrgStatusHealth } from './org-status.js';

/** Content-Type of the exposition format this module writes. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge';

export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const HEALTHS: readonly OrgStatusHealth[] = ['healthy', 'refresh_due', 'at_risk', 'expired', 'failing', 'disabled', 'corrupt'];

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Renders metric families as Prometheus text format 0.0.4 (HELP, TYPE, then samples; trailing newline). */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!NAME.test(family.name)) throw new Error(`invalid metric name ${JSON.stringify(family.name)}`);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      const entries = Object.entries(sample.labels ?? {});
      for (const [key] of entries) if (!LABEL_NAME.test(key)) throw new Error(`invalid label name ${JSON.stringify(key)}`);
      const labels = entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
      lines.push(`${family.name}${labels} ${formatValue(sample.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Counter keyed by a label set; keeps insertion order so output is stable. */
class LabelledCounter {
  readonly #values = new Map<string, { labels: Record<string, string>; value: number }>();

  inc(labels: Record<string, string>, by = 1): void {
    const key = JSON.stringify(labels);
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { labels, value: by });
  }

  samples(): Sample[] {
    return [...this.#values.values()].map(({ labels, value }) => ({ labels: { ...labels }, value }));
  }
}

/** The broker's metrics: call the record methods as things happen, and `render` on each scrape. */
export class LocalMetrics {
  readonly #refreshes = new LabelledCounter();
  readonly #getterRequests = new LabelledCounter();
  readonly #sweeps = new LabelledCounter();
  #lastSweepDurationSeconds: number | undefined;
  #lastSweepCompletedAtMs: number | undefined;

  /** One refresh attempt (scheduled or on demand). `errorCode` is "none" for successes. */
  recordRefresh(outcome: 'success' | 'failure', errorCode?: string): void {
    this.#refreshes.inc({ outcome, error_code: outcome === 'success' ? 'none' : errorCode ?? 'internal_error' });
  }

  /** One token request on the HTTP getter: `ok` or the error code returned. */
  recordGetterRequest(result: string): void {
    this.#getterRequests.inc({ result });
  }

  /** One finished sweep. */
  recordSweep(durationMs: number, ok: boolean, completedAtMs: number): void {
    this.#sweeps.inc({ result: ok ? 'ok' : 'error' });
    this.#lastSweepDurationSeconds = durationMs / 1000;
    if (ok) this.#lastSweepCompletedAtMs = completedAtMs;
  }

  families(orgs: readonly OrgStatus[]): MetricFamily[] {
    const byHealth = new Map<OrgStatusHealth, number>(HEALTHS.map((h) => [h, 0]));
    for (const org of orgs) byHealth.set(org.health, (byHealth.get(org.health) ?? 0) + 1);
    return [
      { name: 'broker_refresh_total', help: 'Token refresh attempts by outcome and error code.', type: 'counter', samples: this.#refreshes.samples() },
      { name: 'broker_orgs', help: 'Registered orgs by health (corrupt: the registry file cannot be read).', type: 'gauge', samples: HEALTHS.map((h) => ({ labels: { health: h }, value: byHealth.get(h) ?? 0 })) },
      {
        name: 'broker_token_seconds_remaining',
        help: 'Seconds until the current token of each enabled org expires (negative when expired).',
        type: 'gauge',
        samples: orgs.filter((o) => o.enabled && o.expiresInSeconds !== null).map((o) => ({ labels: { org_id: o.orgId }, value: o.expiresInSeconds as number })),
      },
      {
        name: 'broker_sweep_duration_seconds',
        help: 'Duration of the most recent sweep.',
        type: 'gauge',
        samples: this.#lastSweepDurationSeconds === undefined ? [] : [{ value: this.#lastSweepDurationSeconds }],
      },
      { name: 'broker_sweeps_total', help: 'Sweeps run, by result (error: the registry could not be listed to the end).', type: 'counter', samples: this.#sweeps.samples() },
      {
        name: 'broker_last_sweep_timestamp_seconds',
        help: 'Unix time the last successful sweep finished.',
        type: 'gauge',
        samples: this.#lastSweepCompletedAtMs === undefined ? [] : [{ value: Math.floor(this.#lastSweepCompletedAtMs / 1000) }],
      },
      { name: 'broker_getter_requests_total', help: 'Token requests on the HTTP getter, by result.', type: 'counter', samples: this.#getterRequests.samples() },
    ];
  }

  render(orgs: readonly OrgStatus[]): string {
    return renderPrometheus(this.families(orgs));
  }
}

/**
 * Telemetry over Powertools: structured JSON logs and CloudWatch EMF metrics. Core hands over
 * identifiers and decisions only; this adapter adds nothing secret.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { LogFields, LogLevel, Telemetry } from '../../core/ports.js';

const UNITS = { Count: MetricUnit.Count, Seconds: MetricUnit.Seconds, Milliseconds: MetricUnit.Milliseconds } as const;

export function createPowertoolsTelemetry(logger: Logger, metrics: Metrics): Telemetry {
  return {
    log(level: LogLevel, message: string, fields: LogFields = {}) {
      const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
      // Powertools has no "critical" level; an error line with severity keeps it filterable.
      if (level === 'critical') logger.error(message, { ...clean, severity: 'critical' });
      else logger[level](message, clean);
    },
    metric(name, value, unit, dimensions) {
      if (dimensions && Object.keys(dimensions).length > 0) {
        // Dimensioned metrics go out as their own EMF blob so they do not multiply the others.
        const single = metrics.singleMetric();
        for (const [k, v] of Object.entries(dimensions)) single.addDimension(k, v);
        single.addMetric(name, UNITS[unit], value);
      } else {
        metrics.addMetric(name, UNITS[unit], value);
      }
    },
  };
}

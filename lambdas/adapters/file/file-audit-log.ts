import * as z from 'zod';
import { ValidationError } from '../../core/errors.js';
import type { AuditLog, AuditQuery, AuditRecord } from '../../core/ports.js';
import { isOrgId } from '../../core/token-record.js';
import { appendLineDurable, readTextIfExists, splitLines, writeFileAtomic } from './atomic-file.js';
import { type SameKeys, type StoreFiles, nonNegativeInt, orgKey, parseInput, parseJson, rejectUnknownKeys, requireOrgId } from './store-files.js';

/** Default and largest result count of audit queries (as the DynamoDB audit log). */
export const DEFAULT_AUDIT_QUERY_LIMIT = 100;
export const MAX_AUDIT_QUERY_LIMIT = 1_000;
/** Compact an org's audit file after this many appends by one store instance. */
const COMPACT_EVERY_APPENDS = 500;

const instant = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 instant');

const auditRecordSchema = z.object({
  orgId: z.string().refine(isOrgId, 'must be a UUID'),
  attemptId: z.string().min(1),
  at: instant,
  outcome: z.enum(['success', 'failure']),
  trigger: z.enum(['schedule', 'manual', 'getter', 'cli', 'local']),
  reason: z.string(),
  durationMs: z.number().min(0),
  attempts: nonNegativeInt,
  errorCode: z.string().min(1).optional(),
  errorClass: z.enum(['permanent', 'rate_limited', 'transient']).optional(),
  httpStatus: z.number().int().optional(),
  severity: z.literal('critical').optional(),
  message: z.string().optional(),
  expiresAt: instant.optional(),
  oauthClientId: z.string().optional(),
  oauthClientName: z.string().optional(),
  scopes: z.array(z.string()).optional(),
  requestId: z.string().optional(),
  brokerVersion: z.string(),
});

// Compile-time guard (see SameKeys): a field the port gains but this schema lacks stops compiling.
const _auditKeysMatch: SameKeys<AuditRecord, z.infer<typeof auditRecordSchema>> = true;

const AUDIT_QUERY_KEYS = ['sinceMs', 'untilMs', 'failuresOnly', 'limit'] as const;

interface AuditRead {
  /** Retained, well-formed records in file (append) order, with their parsed time. */
  records: { record: AuditRecord; atMs: number }[];
  /**
   * Lines compaction keeps: every retained JSON line, including ones this version's schema rejects
   * (a newer broker sharing the directory may write values this one does not know).
   */
  keptLines: string[];
  /** Records past retention. */
  expired: number;
  /** Lines that are not JSON: a torn append, or damage. */
  invalid: number;
}

/**
 * AuditLog over `audit/<orgId>.jsonl`: one fsynced line per record. Time bounds are inclusive.
 * Records older than the retention are never returned; an org's file is rewritten without them
 * (and without torn lines) every {@link COMPACT_EVERY_APPENDS} appends by an instance, when a query finds
 * that a quarter or more of it has expired, or on {@link FileAuditLog.compact}. Unknown record keys are
 * dropped before writing, so nothing a caller did not mean to audit reaches the file.
 */
export class FileAuditLog implements AuditLog {
  readonly #files: StoreFiles;
  readonly #appendsSinceCompaction = new Map<string, number>();

  /** @internal Built by {@link FileStore}. */
  constructor(files: StoreFiles) {
    this.#files = files;
  }

  async append(record: AuditRecord): Promise<void> {
    const orgId = requireOrgId((record as Partial<AuditRecord> | undefined)?.orgId);
    const line = JSON.stringify(parseInput(auditRecordSchema, record, 'audit record', orgId));
    const key = orgKey(orgId);
    const path = this.#files.file('audit', orgId, '.jsonl');
    await this.#files.locked(orgId, 'audit_write_failed', 'appending to the audit log', async () => {
      await appendLineDurable(path, line);
      const count = (this.#appendsSinceCompaction.get(key) ?? 0) + 1;
      this.#appendsSinceCompaction.set(key, count);
      if (count >= COMPACT_EVERY_APPENDS) await this.#compactLocked(orgId, path);
    });
  }

  /** The org's records, newest first. */
  async query(orgId: string, query: AuditQuery = {}): Promise<AuditRecord[]> {
    const path = this.#files.file('audit', orgId, '.jsonl');
    const { sinceMs, untilMs, limit } = validateAuditQuery(query);
    const read = await this.#files.guard(orgId, 'audit_write_failed', 'reading the audit log', () => this.#read(path));
    if (read.expired > 0 && read.expired * 4 >= read.expired + read.records.length) {
      // Opportunistic: a failed compaction leaves the file as it was, which reads the same.
      await this.compact(orgId).catch(() => undefined);
    }
    const matches = read.records.filter(
      ({ record, atMs }) => (!query.failuresOnly || record.outcome === 'failure') && atMs >= sinceMs && atMs <= untilMs,
    );
    return newestFirst(matches, limit);
  }

  /** Failures across every org between `sinceMs` and `untilMs` (inclusive; defaults to now), newest first. */
  async listFailures(query: { sinceMs: number; untilMs?: number; limit?: number }): Promise<AuditRecord[]> {
    if (typeof query?.sinceMs !== 'number') throw new ValidationError('listFailures needs sinceMs', { field: 'sinceMs' });
    const { sinceMs, untilMs, limit } = validateAuditQuery({ ...query, untilMs: query.untilMs ?? this.#files.clock.now() }, ['sinceMs', 'untilMs', 'limit']);
    const ids = await this.#files.guard(undefined, 'audit_write_failed', 'listing audit logs', () => this.#files.listOrgIds('audit', '.jsonl'));
    const matches: AuditRead['records'] = [];
    for (const id of ids) {
      const read = await this.#files.guard(id, 'audit_write_failed', 'reading the audit log', () => this.#read(this.#files.file('audit', id, '.jsonl')));
      for (const entry of read.records) {
        if (entry.record.outcome === 'failure' && entry.atMs >= sinceMs && entry.atMs <= untilMs) matches.push(entry);
      }
    }
    return newestFirst(matches, limit);
  }

  /** Rewrites the org's audit file without expired records and lines that are not JSON (torn appends). */
  async compact(orgId: string): Promise<void> {
    const path = this.#files.file('audit', orgId, '.jsonl');
    await this.#files.locked(orgId, 'audit_write_failed', 'compacting the audit log', () => this.#compactLocked(orgId, path));
  }

  /** Caller holds the org's mutex, so no append can land in the file being replaced. */
  async #compactLocked(orgId: string, path: string): Promise<void> {
    this.#appendsSinceCompaction.set(orgKey(orgId), 0);
    const read = await this.#read(path);
    if (read.expired === 0 && read.invalid === 0) return;
    await writeFileAtomic(path, read.keptLines.map((line) => `${line}\n`).join(''));
  }

  async #read(path: string): Promise<AuditRead> {
    const text = await readTextIfExists(path);
    const result: AuditRead = { records: [], keptLines: [], expired: 0, invalid: 0 };
    if (text === undefined) return result;
    const cutoffMs = this.#files.clock.now() - this.#files.retentionMs;
    // The fragment after the last newline is an append that a crash cut short: ignored, never an error.
    const { lines, fragment } = splitLines(text);
    if (fragment.length > 0) result.invalid++;
    for (const line of lines) {
      const json = parseJson(line);
      if (json === null || typeof json !== 'object') {
        result.invalid++;
        continue;
      }
      const atMs = Date.parse(String((json as { at?: unknown }).at));
      if (atMs < cutoffMs) {
        result.expired++;
        continue;
      }
      result.keptLines.push(line);
      const parsed = auditRecordSchema.safeParse(json);
      if (parsed.success) result.records.push({ record: parsed.data as AuditRecord, atMs });
    }
    return result;
  }
}

function validateAuditQuery(query: AuditQuery, allowed: readonly string[] = AUDIT_QUERY_KEYS): { sinceMs: number; untilMs: number; limit: number } {
  rejectUnknownKeys(query, allowed, 'audit query');
  for (const field of ['sinceMs', 'untilMs'] as const) {
    const value = query[field];
    if (value !== undefined && (typeof value !== 'number' || Number.isNaN(value))) {
      throw new ValidationError(`audit query ${field} must be a number of epoch milliseconds, got ${String(value)}`, { field });
    }
  }
  if (query.failuresOnly !== undefined && typeof query.failuresOnly !== 'boolean') {
    throw new ValidationError('audit query failuresOnly must be a boolean', { field: 'failuresOnly' });
  }
  const limit = query.limit ?? DEFAULT_AUDIT_QUERY_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_QUERY_LIMIT) {
    throw new ValidationError(`audit query limit must be an integer from 1 to ${MAX_AUDIT_QUERY_LIMIT}, got ${String(query.limit)}`, { field: 'limit' });
  }
  return { sinceMs: query.sinceMs ?? Number.NEGATIVE_INFINITY, untilMs: query.untilMs ?? Number.POSITIVE_INFINITY, limit };
}

/** Newest first; records with the same instant keep reverse append order. */
function newestFirst(entries: AuditRead['records'], limit: number): AuditRecord[] {
  return entries
    .map((entry, index) => ({ ...entry, index }))
    .sort((a, b) => b.atMs - a.atMs || b.index - a.index)
    .slice(0, limit)
    .map(({ record }) => record);
}

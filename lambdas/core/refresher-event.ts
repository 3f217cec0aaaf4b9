/**
 * What the refresher Lambda accepts: the EventBridge scheduled event, a manual event
 * `{ "orgIds": ["<uuid>", ...], "force": true }` (both fields optional, nothing else allowed), or the
 * getter's on-demand request `{ "onDemand": { "orgId": "<uuid>", "reason": ... } }` (on-demand.ts).
 * Parsed here, in core, as the getter's request is, so the handler is wiring only.
 */
import * as z from 'zod';
import { ValidationError } from './errors.js';
import { type OnDemandRequest, parseOnDemandRequest } from './on-demand.js';
import { isOrgId } from './token-record.js';

/** Most orgs a manual event may name. */
export const MAX_MANUAL_ORG_IDS = 1000;

const manualEventSchema = z.strictObject({
  orgIds: z.array(z.string().refine(isOrgId, 'must be a UUID')).min(1).max(MAX_MANUAL_ORG_IDS).optional(),
  force: z.boolean().optional(),
});

/** A sweep the refresher was asked for. */
export interface RefresherRequest {
  trigger: 'schedule' | 'manual';
  /** Lower-case org ids; absent means every org. */
  orgIds?: string[];
  force: boolean;
}

/** Refresh one org for the getter, and answer with an OnDemandResult. */
export interface OnDemandEvent {
  trigger: 'on_demand';
  onDemand: OnDemandRequest;
}

/**
 * Accepts an EventBridge scheduled event, a manual `{ orgIds?, force? }` or an on-demand
 * `{ onDemand: {...} }`; anything else is invalid_request.
 */
export function parseRefresherEvent(event: unknown): RefresherRequest | OnDemandEvent {
  if (typeof event === 'object' && event !== null && (event as { source?: unknown }).source === 'aws.events') {
    return { trigger: 'schedule', force: false };
  }
  if (typeof event === 'object' && event !== null && !Array.isArray(event) && 'onDemand' in event) {
    const extra = Object.keys(event).filter((key) => key !== 'onDemand');
    if (extra.length > 0) throw new ValidationError(`an on-demand event carries onDemand only; unknown field(s): ${extra.slice(0, 5).join(', ')}`);
    return { trigger: 'on_demand', onDemand: parseOnDemandRequest((event as { onDemand: unknown }).onDemand) };
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new ValidationError('event must be an EventBridge scheduled event or an object like {"orgIds":[...],"force":true}');
  }
  const parsed = manualEventSchema.safeParse(event);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).slice(0, 5).join('; ');
    throw new ValidationError(`invalid manual refresh event: ${problems}`);
  }
  const orgIds = parsed.data.orgIds?.map((id) => id.toLowerCase());
  return { trigger: 'manual', force: parsed.data.force ?? false, ...(orgIds ? { orgIds } : {}) };
}

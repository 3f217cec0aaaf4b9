/**
 * Paging through the org registry: one loop for the engine's sweep, the CLI and local mode.
 */
import type { OrgRecord, OrgRegistry, UnreadableOrg } from './ports.js';

/** Page size when reading the whole registry. */
export const REGISTRY_PAGE_SIZE = 100;

/** An org the registry holds but could not read: reported beside a page instead of a record. */
export interface UnreadableEntry {
  orgId: string;
  unreadable: UnreadableOrg;
}

/**
 * Every org, page by page, in registry order, with each page's unreadable orgs after its records.
 * A failing page throws where it fails.
 */
export async function* allEntries(registry: OrgRegistry, pageSize = REGISTRY_PAGE_SIZE): AsyncGenerator<OrgRecord | UnreadableEntry> {
  let cursor: string | undefined;
  do {
    const page = await registry.listPage({ ...(cursor ? { cursor } : {}), limit: pageSize });
    yield* page.items;
    for (const unreadable of page.unreadable ?? []) yield { orgId: unreadable.orgId, unreadable };
    cursor = page.cursor;
  } while (cursor);
}

/** Every org the registry could read, page by page, in registry order. A failing page throws where it fails. */
export async function* allOrgs(registry: OrgRegistry, pageSize = REGISTRY_PAGE_SIZE): AsyncGenerator<OrgRecord> {
  for await (const entry of allEntries(registry, pageSize)) {
    if (!('unreadable' in entry)) yield entry;
  }
}

/** Every org the registry could read, in registry order (unreadable ones are left out). */
export async function listAllOrgs(registry: OrgRegistry): Promise<OrgRecord[]> {
  const orgs: OrgRecord[] = [];
  for await (const org of allOrgs(registry)) orgs.push(org);
  return orgs;
}

/** Every org, in registry order, and the ones that could not be read: for callers that show status. */
export async function listOrgsAndUnreadable(registry: OrgRegistry): Promise<{ orgs: OrgRecord[]; unreadable: UnreadableOrg[] }> {
  const orgs: OrgRecord[] = [];
  const unreadable: UnreadableOrg[] = [];
  for await (const entry of allEntries(registry)) {
    if ('unreadable' in entry) unreadable.push(entry.unreadable);
    else orgs.push(entry);
  }
  return { orgs, unreadable };
}

/**
 * Paging through the org registry: one loop for the engine's sweep, the CLI and local mode.
 */
import type { OrgRecord, OrgRegistry } from './ports.js';

/** Page size when reading the whole registry. */
export const REGISTRY_PAGE_SIZE = 100;

/** Every org, page by page, in registry order. A failing page throws where it fails. */
export async function* allOrgs(registry: OrgRegistry, pageSize = REGISTRY_PAGE_SIZE): AsyncGenerator<OrgRecord> {
  let cursor: string | undefined;
  do {
    const page = await registry.listPage({ ...(cursor ? { cursor } : {}), limit: pageSize });
    yield* page.items;
    cursor = page.cursor;
  } while (cursor);
}

/** Every org, in registry order. */
export async function listAllOrgs(registry: OrgRegistry): Promise<OrgRecord[]> {
  const orgs: OrgRecord[] = [];
  for await (const org of allOrgs(registry)) orgs.push(org);
  return orgs;
}

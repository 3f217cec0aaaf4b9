/** The benchmark population's org ids: deterministic, so a simulator in another process can hold the same orgs. */
export function benchOrgId(i: number): string {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

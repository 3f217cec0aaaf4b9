/**
 * A vitest setup file (vitest.config.ts): after each test file, every Genesys simulator the file
 * started must have seen no request that presented an already-used refresh token. Presenting a spent
 * refresh token is the one thing the broker must never do (it can make an authorization server revoke
 * the whole token family), so the whole suite checks it, not only the tests that think of it.
 *
 * Tests that present a used token on purpose (the simulator's own tests) acknowledge it with
 * `acknowledgeRefreshTokenReuse(sim, n)`. Per-file totals are appended to
 * `reports/refresh-token-reuse.jsonl` for the record.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { afterAll, expect } from 'vitest';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';

const started: GenesysSimulator[] = [];
const acknowledged = new Map<GenesysSimulator, number>();

const start = GenesysSimulator.start.bind(GenesysSimulator);
GenesysSimulator.start = async (options) => {
  const sim = await start(options);
  started.push(sim);
  return sim;
};

/** Declares that a test presented `count` used refresh tokens to `sim` on purpose. */
export function acknowledgeRefreshTokenReuse(sim: GenesysSimulator, count: number): void {
  acknowledged.set(sim, (acknowledged.get(sim) ?? 0) + count);
}

afterAll(() => {
  const reuse = started.reduce((n, sim) => n + sim.totalRefreshTokenReuse() - (acknowledged.get(sim) ?? 0), 0);
  const file = expect.getState().testPath ?? 'unknown';
  try {
    mkdirSync('reports', { recursive: true });
    appendFileSync('reports/refresh-token-reuse.jsonl', `${JSON.stringify({ file, simulators: started.length, reuse })}\n`);
  } catch {
    // The record is a convenience; the assertion below is the check.
  }
  expect(reuse, `refresh tokens presented again after they were spent, in ${file}`).toBe(0);
});

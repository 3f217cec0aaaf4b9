import { describe, expect, it } from 'vitest';
import { STACK_OUTPUT_KEYS as STACK_KEYS } from '../../lib/token-broker-stack.js';
import { REQUIRED_STACK_OUTPUTS, STACK_OUTPUT_KEYS } from '../../lib/stack-outputs.js';

describe('STACK_OUTPUT_KEYS', () => {
  it('names outputs the stack really emits, so the CLI reads what is deployed', () => {
    expect(STACK_OUTPUT_KEYS).toEqual(STACK_KEYS);
    for (const key of REQUIRED_STACK_OUTPUTS) expect(Object.values(STACK_KEYS)).toContain(key);
  });
});

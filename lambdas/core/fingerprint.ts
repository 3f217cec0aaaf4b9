/**
 * A one-way fingerprint of a token: the first 128 bits of its SHA-256, hex. It lets two parties agree
 * on which token they mean (the refresh token a spend note names, the access token a consumer says
 * Genesys rejected) without either token being stored, logged or sent again.
 */
export async function fingerprint(token: string | undefined): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(token ?? ''));
  return Buffer.from(digest).toString('hex').slice(0, 32);
}

/** What {@link fingerprint} returns: 32 lower-case hex digits. */
export const FINGERPRINT_PATTERN = /^[0-9a-f]{32}$/;

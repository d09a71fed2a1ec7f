// Encrypts secrets the gateway must store and present later (upstream API keys of channels, the
// webhook secrets clients give their tasks) with AES-256-GCM, so a copy of the database alone does not hand out provider accounts. The key lives
// in `<data dir>/secrets.key` (0600, beside signing.key) or IMAGEGATE_SECRETS_KEY.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** Marks sealed text; anything without it is a value stored before encryption existed. */
const prefix = 'enc:v1:';
const ivBytes = 12;
const tagBytes = 16;

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

export interface SecretBox {
  /** `enc:v1:` + base64url(iv | tag | ciphertext). */
  seal(plaintext: string): string;
  /** Opens sealed text; text stored in clear (before encryption) is returned as it is. */
  open(stored: string): string;
  isSealed(stored: string): boolean;
}

/** Keeps text as it is: for stores opened without a secrets key (tests of other concerns). */
export const clearTextBox: SecretBox = { seal: (text) => text, open: (text) => text, isSealed: () => true };

/** A new random key, as written to secrets.key: 32 bytes, base64. */
export const generateSecretsKey = (): string => randomBytes(32).toString('base64');

export function createSecretBox(keyText: string): SecretBox {
  const key = Buffer.from(keyText.trim(), 'base64');
  if (key.length !== 32) throw new SecretBoxError('the secrets key must be 32 bytes, written as base64 (44 characters)');
  return {
    seal(plaintext) {
      const iv = randomBytes(ivBytes);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return prefix + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url');
    },
    open(stored) {
      if (!stored.startsWith(prefix)) return stored;
      const bytes = Buffer.from(stored.slice(prefix.length), 'base64url');
      if (bytes.length < ivBytes + tagBytes) throw new SecretBoxError('a stored secret is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, ivBytes));
      decipher.setAuthTag(bytes.subarray(ivBytes, ivBytes + tagBytes));
      try {
        return Buffer.concat([decipher.update(bytes.subarray(ivBytes + tagBytes)), decipher.final()]).toString('utf8');
      } catch {
        // Never the ciphertext or the key in the message.
        throw new SecretBoxError('a stored secret cannot be decrypted with this secrets key (was secrets.key or IMAGEGATE_SECRETS_KEY changed?)');
      }
    },
    isSealed: (stored) => stored.startsWith(prefix),
  };
}

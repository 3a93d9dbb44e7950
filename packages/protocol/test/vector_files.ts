import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The fixture copy of the original firmware's vectors, or the directory X3DH_VECTORS_DIR names. */
export const vectorsDir = process.env['X3DH_VECTORS_DIR']
  ? resolve(process.env['X3DH_VECTORS_DIR'])
  : join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/vectors');

export interface VectorFile {
  name: string;
  description: string;
  cases: Record<string, unknown>[];
  [key: string]: unknown;
}

export function loadVectorFiles(): VectorFile[] {
  return readdirSync(vectorsDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ ...JSON.parse(readFileSync(join(vectorsDir, f), 'utf8')), name: f.replace(/\.json$/, '') }));
}

export const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

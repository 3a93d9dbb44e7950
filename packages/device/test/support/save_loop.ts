import { generateKeyPair } from '@x3dh-iot/protocol';
import { FileKeyStore } from '../../src/index.js';

/**
 * Saves a growing state over and over until killed: save number n holds one-time prekeys 0..n-1
 * and nextOneTimePreKeyId = n. Prints n after each completed save. Arguments: store path, and an
 * optional passphrase.
 */
const [path, passphrase] = process.argv.slice(2);
const store = await FileKeyStore.open(path!, { passphrase, scrypt: { N: 2 ** 10, r: 8, p: 1 } });
const state = await store.load();
for (let n = state.nextOneTimePreKeyId + 1; ; n++) {
  state.oneTimePreKeys.set(n - 1, generateKeyPair());
  state.nextOneTimePreKeyId = n;
  state.username = `user${n}`;
  await store.save(state);
  process.stdout.write(`${n}\n`);
}

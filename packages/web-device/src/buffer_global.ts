// The device library moves bytes as Node Buffers (as mqtt.js does); browsers get the same class
// from the `buffer` package, injected by the bundler before any module runs.
import { Buffer } from 'buffer';

export { Buffer };

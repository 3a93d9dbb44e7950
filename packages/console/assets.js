import { fileURLToPath, URL } from 'node:url';

/** Where the built console (index.html, console.js, console.css) lies, for the key server to serve. */
export const consoleAssetsDir = fileURLToPath(new URL('./dist/', import.meta.url));

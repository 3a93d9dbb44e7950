/** Where the built console (index.html, console.js, console.css) lies, for the key server to serve. */
export declare const consoleAssetsDir: string;

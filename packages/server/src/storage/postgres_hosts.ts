/** Which server of several a connection may settle on, as libpq's `target_session_attrs`. */
export type TargetSessionAttrs = 'any' | 'read-write';

export interface PostgresHosts {
  /** One single-host URL per host, in the order given, as the `pg` driver takes them. */
  urls: string[];
  /** `host:port` of each, for logs. */
  names: string[];
  targetSessionAttrs: TargetSessionAttrs;
}

const DEFAULT_PORT = '5432';

function targetOf(value: string | null | undefined): TargetSessionAttrs {
  if (value === null || value === undefined || value === 'any') return 'any';
  // 'primary' differs from 'read-write' only for hot standbys set read-write by hand.
  if (value === 'read-write' || value === 'primary') return 'read-write';
  throw new Error(`--database-url: target_session_attrs=${value} is not supported (use read-write or any)`);
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`. */
function splitHostPort(spec: string, fallbackPort: string): { host: string; port: string } {
  const match = /^(\[[^\]]+\]|[^:]*)(?::(\d*))?$/.exec(spec);
  if (!match || match[1] === '') throw new Error(`--database-url: "${spec}" is not a host[:port]`);
  return { host: match[1]!, port: match[2] || fallbackPort };
}

/**
 * A libpq key/value connection string (`host=a,b port=5432,5433 user=x dbname=y
 * target_session_attrs=read-write`) as a URL of the same meaning: the `pg` driver reads URLs only.
 */
function keyValueToUrl(text: string): string {
  const values = new Map<string, string>();
  for (const match of text.matchAll(/(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/g)) {
    const raw = match[2]!;
    values.set(match[1]!, raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
  }
  const take = (key: string) => {
    const value = values.get(key);
    values.delete(key);
    return value;
  };
  const hosts = (take('host') ?? 'localhost').split(',');
  const ports = (take('port') ?? '').split(',');
  const user = take('user');
  const password = take('password');
  const dbname = take('dbname');
  const authority = hosts.map((host, i) => {
    const port = ports.length === 1 ? ports[0] : ports[i];
    return `${host.includes(':') ? `[${host}]` : host}${port ? `:${port}` : ''}`;
  }).join(',');
  const login = user === undefined ? '' : `${encodeURIComponent(user)}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@`;
  const query = new URLSearchParams([...values]).toString();
  return `postgresql://${login}${authority}/${encodeURIComponent(dbname ?? '')}${query ? `?${query}` : ''}`;
}

/**
 * The hosts of a PostgreSQL connection string, which libpq allows several of
 * (`postgresql://user@a:5432,b:5432/db?target_session_attrs=read-write`, or the key/value form)
 * and the `pg` driver does not: each becomes a URL of its own, without `target_session_attrs`.
 * A URL with one host and no `target_session_attrs` is returned as it came.
 */
export function parsePostgresHosts(connectionString: string): PostgresHosts {
  const url = /^postgres(ql)?:\/\//i.test(connectionString) ? connectionString : keyValueToUrl(connectionString);
  const match = /^(postgres(?:ql)?:\/\/)(?:([^@/?#]*)@)?([^/?#]*)(.*)$/i.exec(url);
  if (!match) throw new Error('--database-url: not a PostgreSQL URL (postgresql://user@host:5432/db)');
  const [, scheme, login, authority, rest] = match as unknown as [string, string, string | undefined, string, string];
  const queryStart = rest.indexOf('?');
  const path = queryStart < 0 ? rest : rest.slice(0, queryStart);
  const params = new URLSearchParams(queryStart < 0 ? '' : rest.slice(queryStart + 1));
  const targetSessionAttrs = targetOf(params.get('target_session_attrs'));
  params.delete('target_session_attrs');
  const specs = authority.split(',');
  if (specs.length === 1 && url === connectionString && !/[?&]target_session_attrs=/.test(rest)) {
    const { host, port } = splitHostPort(authority || 'localhost', DEFAULT_PORT);
    return { urls: [connectionString], names: [`${host}:${port}`], targetSessionAttrs };
  }
  const query = params.toString();
  const hosts = specs.map((spec) => splitHostPort(spec, DEFAULT_PORT));
  return {
    urls: hosts.map(({ host, port }) => `${scheme}${login === undefined ? '' : `${login}@`}${host}:${port}${path}${query ? `?${query}` : ''}`),
    names: hosts.map(({ host, port }) => `${host}:${port}`),
    targetSessionAttrs,
  };
}

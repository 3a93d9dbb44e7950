import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNotReachableYet } from '../src/ops/not_reachable_yet.js';
import { DatabaseUnavailableError } from '../src/storage/database_errors.js';
import { parsePostgresHosts } from '../src/storage/postgres_hosts.js';

test('multi-host PostgreSQL URLs and key/value strings become one URL per host, target_session_attrs taken out', () => {
  const single = 'postgresql://x3dh@db/x3dh?sslmode=verify-full&sslrootcert=ca.pem';
  assert.deepEqual(parsePostgresHosts(single), { urls: [single], names: ['db:5432'], targetSessionAttrs: 'any' });
  assert.deepEqual(parsePostgresHosts('postgresql://u:p@a:5433,[::1],b/db?target_session_attrs=read-write&sslmode=disable'), {
    urls: ['postgresql://u:p@a:5433/db?sslmode=disable', 'postgresql://u:p@[::1]:5432/db?sslmode=disable', 'postgresql://u:p@b:5432/db?sslmode=disable'],
    names: ['a:5433', '[::1]:5432', 'b:5432'],
    targetSessionAttrs: 'read-write',
  });
  assert.deepEqual(parsePostgresHosts("host=a,b port=1,2 user=x3dh password='s p' dbname=keys target_session_attrs=primary"), {
    urls: ['postgresql://x3dh:s%20p@a:1/keys', 'postgresql://x3dh:s%20p@b:2/keys'],
    names: ['a:1', 'b:2'],
    targetSessionAttrs: 'read-write',
  });
  assert.throws(() => parsePostgresHosts('postgresql://a,b/db?target_session_attrs=prefer-standby'), /prefer-standby is not supported/);
});

test('"not reachable yet" (wait) against what waiting cannot mend (fail at once)', () => {
  const coded = (code: string | number, message = 'x') => Object.assign(new Error(message), { code });
  const wrapped = (cause: Error) => new DatabaseUnavailableError('database unreachable', { cause });
  for (const error of [coded('ECONNREFUSED'), wrapped(coded('57P03')), wrapped(coded('ENOTFOUND')), new Error('Connection terminated unexpectedly'),
    coded(136), wrapped(new AggregateError([coded('ECONNREFUSED'), coded('25006')]))]) {
    assert.equal(isNotReachableYet(error), true, error.message);
  }
  for (const error of [wrapped(coded('28P01')), coded('DEPTH_ZERO_SELF_SIGNED_CERT'), coded(135), coded('ENOENT'),
    new Error('Handshake terminated by server: 403 (ACCESS-REFUSED)'), wrapped(new AggregateError([coded('ECONNREFUSED'), coded('28000')]))]) {
    assert.equal(isNotReachableYet(error), false, error.message);
  }
});

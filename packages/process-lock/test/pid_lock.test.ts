import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { LockHeldError, PidLock } from '../src/index.js';

const tempLock = (t: { after: (fn: () => void) => void }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-lock-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'x.lock');
};

test('a held lock is refused, and free again once released', (t) => {
  const file = tempLock(t);
  const lock = PidLock.acquire(file);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const child = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', `
    import { PidLock } from '@x3dh-iot/process-lock';
    try { PidLock.acquire(${JSON.stringify(file)}); console.log('acquired'); } catch (error) { console.log(error.name, error.holderPid); }`],
  { encoding: 'utf8' });
  assert.equal(child.stdout.trim(), `LockHeldError ${process.pid}`);
  lock.release();
  assert.equal(fs.existsSync(file), false);
  PidLock.acquire(file).release();
});

test('a lock left by a process that no longer runs is taken over', (t) => {
  const file = tempLock(t);
  const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  fs.writeFileSync(file, `${dead.stdout.trim()}\n${os.hostname()}\n`);
  PidLock.acquire(file).release();
  fs.writeFileSync(file, '999999999'); // older form: pid only
  PidLock.acquire(file).release();
});

test('a lock held on another host is never taken over', (t) => {
  const file = tempLock(t);
  fs.writeFileSync(file, `1\nsome-other-host\n`);
  assert.throws(() => PidLock.acquire(file), (error: unknown) =>
    error instanceof LockHeldError && error.holderHost === 'some-other-host' && /on some-other-host/.test(error.message));
});

test('a lock whose pid now belongs to another process (the pid was reused) is taken over; the live holder keeps it',
  { skip: !fs.existsSync('/proc/self/stat') && 'process start times come from /proc' }, async (t) => {
    const file = tempLock(t);
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    t.after(() => other.kill());
    await once(other, 'spawn');
    // The holder recorded a start other than the live process's with that pid: it was an earlier process.
    fs.writeFileSync(file, `${other.pid}\n${os.hostname()}\nsome-boot:1\n`);
    PidLock.acquire(file).release();
    // The lock as that live process would have written it is held.
    const start = fs.readFileSync(`/proc/${other.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19];
    const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    fs.writeFileSync(file, `${other.pid}\n${os.hostname()}\n${bootId}:${start}\n`);
    assert.throws(() => PidLock.acquire(file), (error: unknown) => error instanceof LockHeldError && error.holderPid === other.pid);
    // A lock without a start (older form) of a live process is held too.
    fs.writeFileSync(file, `${other.pid}\n${os.hostname()}\n`);
    assert.throws(() => PidLock.acquire(file), LockHeldError);
  });

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { wireV2 } from '@x3dh-iot/protocol';
import { childProcesses } from '@x3dh-iot/process-lock';
import { entryScript, freePort, V2TestDevice, writeTestOperator } from '@x3dh-iot/testkit';

/**
 * Durability of the embedded store seen from the kernel: the key server on its defaults runs under
 * `strace -f` (the server and every PostgreSQL process it starts), a device enrols, and the trace
 * must show the write-ahead log flushed to stable storage (fdatasync or fsync of a file in pg_wal)
 * after the request was read and before the reply was written to the broker socket. An embedded
 * store with fsync off or a reply sent before the commit's flush fails it.
 */
const SERVER_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TRACED = 'read,readv,recvfrom,recvmsg,write,writev,sendto,sendmsg,fsync,fdatasync';
const READS = new Set(['read', 'readv', 'recvfrom', 'recvmsg']);
const WRITES = new Set(['write', 'writev', 'sendto', 'sendmsg']);

/** How `strace -xx` prints these bytes inside a string argument. */
const escaped = (bytes: Buffer) => bytes.toString('hex').replace(/../g, '\\x$&');

interface Call { index: number; pid: number; name: string; text: string; completed: number }

/**
 * The system calls of a `strace -f` output file, each with the line where it completed: a call
 * interrupted by another process's is printed `<unfinished ...>` and completed by a later
 * `<... name resumed>` line of the same pid.
 */
function parseTrace(file: string): Call[] {
  const calls: Call[] = [];
  const open = new Map<string, Call>();
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, index) => {
    const resumed = /^(\d+)\s+<\.\.\. (\w+) resumed>/.exec(line);
    if (resumed) {
      const call = open.get(`${resumed[1]} ${resumed[2]}`);
      if (call) {
        call.completed = index;
        call.text += line;
        open.delete(`${resumed[1]} ${resumed[2]}`);
      }
      return;
    }
    const started = /^(\d+)\s+(\w+)\(/.exec(line);
    if (!started) return;
    const call = { index, pid: Number(started[1]), name: started[2]!, text: line, completed: index };
    calls.push(call);
    if (line.endsWith('<unfinished ...>')) open.set(`${call.pid} ${call.name}`, call);
  });
  return calls;
}

describe('embedded store durability under strace', { skip: process.platform !== 'linux' && 'strace is Linux only', timeout: 180_000 }, () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-fsync-'));
  const traceFile = path.join(parent, 'trace');
  let strace: ChildProcess;
  let exited: Promise<unknown>;
  let brokerUrl: string;

  before(async () => {
    const [brokerPort, httpPort] = [await freePort(), await freePort()];
    strace = spawn('strace', ['-f', '-qq', '-yy', '-xx', '-s', '4096', '-e', `trace=${TRACED}`, '-o', traceFile,
      process.execPath, await entryScript(SERVER_MAIN),
      '--data-dir', path.join(parent, 'data'), '--embedded-broker-port', String(brokerPort), '--http-port', String(httpPort), '--open-enrolment',
      // The deployment the test device signs its requests for.
      ...writeTestOperator(parent).serverArgs], {
      env: { ...process.env, X3DH_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => strace.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const collect = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('"key server ready"')) resolve();
      };
      strace.stdout!.on('data', collect);
      strace.stderr!.on('data', collect);
      strace.once('exit', (code) => reject(new Error(`the traced server exited (${code}) before it was ready:\n${output}`)));
    });
    brokerUrl = `mqtt://127.0.0.1:${brokerPort}`;
  });

  after(async () => {
    if (strace.exitCode === null) {
      // The traced server: SIGTERM stops it (and its PostgreSQL) gracefully; strace exits with them.
      for (const pid of childProcesses(strace.pid!)) process.kill(pid, 'SIGTERM');
      await exited;
    }
    fs.rmSync(parent, { recursive: true, force: true });
  });

  it('the write-ahead log is flushed (fdatasync/fsync of pg_wal) after the request is read and before its reply is written', async () => {
    const name = `fsync-probe-${process.pid}`;
    const device = await V2TestDevice.connect({ brokerUrl, name });
    const reply = await device.enroll();
    await device.close();
    assert.equal(reply.ok, true, JSON.stringify(reply));
    const correlation = Buffer.from(device.responses[0]!.requestId, 'hex');

    for (const pid of childProcesses(strace.pid!)) process.kill(pid, 'SIGTERM');
    await exited;

    const calls = parseTrace(traceFile);
    const carries = (call: Call, ...parts: Buffer[]) => parts.every((part) => call.text.includes(escaped(part)));
    // The reply: the server's PUBLISH to the response topic with the request's Correlation Data (the
    // broker's delivery of it to the device follows). The request carries both too, as its Response
    // Topic, besides its own topic.
    const requestTopic = escaped(Buffer.from(wireV2.requestTopic(name, 'enroll')));
    const replyWrite = calls.find((call) => WRITES.has(call.name) && carries(call, Buffer.from(wireV2.responseTopic(name)), correlation) &&
      !call.text.includes(requestTopic));
    assert.ok(replyWrite, 'the reply was written to a socket');
    const requestRead = calls.filter((call) => READS.has(call.name) && call.completed < replyWrite.index && carries(call, correlation)).at(-1);
    assert.ok(requestRead, 'the request was read from a socket before the reply');
    // A WAL segment: pg_wal/ and 24 hexadecimal digits (file paths are escaped like strings under -xx).
    const walSegment = new RegExp(`${escaped(Buffer.from('/pg_wal/')).replaceAll('\\', '\\\\')}(\\\\x(3[0-9]|4[1-6])){24}>`);
    const flushes = calls.filter((call) => (call.name === 'fdatasync' || call.name === 'fsync') && walSegment.test(call.text) &&
      / = 0$/.test(call.text));
    const commitFlush = flushes.find((call) => call.index > requestRead.completed && call.completed < replyWrite.index);
    assert.ok(commitFlush, `a WAL flush between the request (line ${requestRead.completed + 1}) and its reply (line ${replyWrite.index + 1}); ` +
      `WAL flushes at lines ${flushes.map((call) => call.completed + 1).join(', ') || 'none'}`);
  });
});

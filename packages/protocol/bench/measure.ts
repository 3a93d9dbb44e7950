/** Runs `op` repeatedly for about `seconds` (after a warm-up) and returns microseconds per call. */
export function measure(op: () => unknown, seconds: number): number {
  for (let i = 0; i < 50; i++) op();
  let calls = 0;
  let batch = 16;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < batch; i++) op();
    calls += batch;
    batch = Math.min(batch * 2, 4096);
    elapsed = process.hrtime.bigint() - start;
  }
  return Number(elapsed) / 1000 / calls;
}

/**
 * Measures `op` and prints one line: name, operations per second, microseconds per call. With
 * `rounds` > 1 the time is split into that many rounds and the fastest counts: on a shared
 * machine the slower rounds measure the other load, not the operation.
 */
export function report(name: string, op: () => unknown, seconds: number, rounds = 1): number {
  const us = Math.min(...Array.from({ length: rounds }, () => measure(op, seconds / rounds)));
  console.log(`${name.padEnd(34)} ${Math.round(1e6 / us).toString().padStart(9)} ops/s ${us.toFixed(1).padStart(9)} us`);
  return us;
}

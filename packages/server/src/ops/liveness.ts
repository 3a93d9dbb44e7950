import { ConnectionWatch } from './connection_watch.js';

/**
 * Samples the broker and database connections every second (a quarter of the bound if shorter)
 * and says why the process should be restarted: a connection down for `boundMs` or longer.
 */
export function watchConnections(brokerUp: () => boolean, databaseUp: () => Promise<boolean>, boundMs: number) {
  const broker = new ConnectionWatch();
  const database = new ConnectionWatch();
  let sampling = false;
  const timer = setInterval(() => {
    broker.sample(brokerUp());
    // A sample of an unreachable database lasts up to the connect timeout: one at a time.
    if (sampling) return;
    sampling = true;
    void databaseUp().then((up) => database.sample(up)).finally(() => { sampling = false; });
  }, Math.min(1000, Math.max(50, boundMs / 4)));
  timer.unref();
  const seconds = (ms: number) => Math.round(ms / 1000);
  return {
    problem: (): string | null => {
      if (broker.downForMs() >= boundMs) return `broker connection down for ${seconds(broker.downForMs())} s`;
      if (database.downForMs() >= boundMs) return `database unreachable for ${seconds(database.downForMs())} s`;
      return null;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Thrown by a request that lost a race inside its transaction to a concurrent request (e.g. the
 * name it was creating got taken meanwhile): the executor rolls the transaction back and runs the
 * request again alone, when it sees the winner's effect and answers accordingly.
 */
export class RequestRaceError extends Error {
  constructor(what: string) {
    super(`lost a race with a concurrent request: ${what}`);
    this.name = 'RequestRaceError';
  }
}

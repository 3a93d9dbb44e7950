/** A failure the operator can act on: printed as its message alone, without a stack trace. */
export class OperatorError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'OperatorError';
  }
}

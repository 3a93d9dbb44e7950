import pg from 'pg';
import { prepareValue } from 'pg/lib/utils.js';

/** One statement of a group: its prepared name and text, its parameters, and who waits for its rows. */
export interface GroupedStatement {
  name: string;
  text: string;
  values: readonly unknown[];
  resolve: (rows: Record<string, unknown>[]) => void;
  reject: (error: Error) => void;
}

/** Column names and text-format parsers of a statement's rows; learnt once, from its first Describe. */
export interface RowShape {
  names: string[];
  parsers: ((text: string) => unknown)[];
}

const NO_ROWS: RowShape = { names: [], parsers: [] };

interface FieldDescription { name: string; dataTypeID: number }

/** The part of pg's connection this group writes through (pg's own Query uses the same calls). */
interface ProtocolConnection {
  stream: { cork(): void; uncork(): void };
  parsedStatements: Record<string, string>;
  parse(message: { name: string; text: string; types: number[] }): void;
  bind(message: { statement: string; values: readonly unknown[] }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string; rows: number }): void;
  sync(): void;
}

/**
 * Statements issued together (a batch's requests at the same step), sent as one extended-protocol
 * exchange that ends in a single Sync. pg's own queries end each statement with a Sync, and
 * PostgreSQL answers every Sync with ReadyForQuery and a flush: one packet, and one wake-up of the
 * server, per statement. Here a group costs one of each.
 *
 * PostgreSQL runs the statements in order and skips the rest after an error until the Sync; inside
 * a transaction that error aborts the transaction anyway, so every statement not yet answered is
 * rejected with it.
 *
 * Each statement is prepared on its connection at first use (pg's record of parsed statements is
 * shared with its own queries) and described once per text: later executions skip the Describe,
 * and their rows are read with the shape learnt then.
 *
 * It extends pg's Query only because pg refuses other query objects in pipeline mode (they might
 * keep a portal open across round trips, which this group never does). It drives pg's connection
 * the way pg's own Query does (its message methods and its record of parsed statements), which is
 * why the server pins pg's exact version.
 */
export class StatementGroup extends pg.Query {
  private answered = 0;
  private received: Record<string, unknown>[] = [];
  private shape: RowShape | undefined;
  /** Indexes of the statements this group prepares (first use on the connection). */
  private readonly preparedHere = new Set<number>();

  /**
   * @param onUncertainPreparation called when a statement prepared by this group failed: whether its
   *   preparation took effect is unknown, so the connection must not be reused.
   */
  constructor(
    private readonly statements: readonly GroupedStatement[],
    private readonly shapes: Map<string, RowShape>,
    private readonly onUncertainPreparation: () => void,
  ) {
    super('');
  }

  override submit = (connection: pg.Connection): Error | null => {
    const wire = connection as unknown as ProtocolConnection;
    let values: unknown[][];
    try {
      // Mapped before anything is written: a value that cannot be sent fails the group cleanly.
      values = this.statements.map((statement) => statement.values.map((value) => prepareValue(value)));
    } catch (error) {
      return error as Error;
    }
    wire.stream.cork();
    try {
      this.statements.forEach((statement, index) => {
        if (wire.parsedStatements[statement.name] === undefined) {
          wire.parse({ name: statement.name, text: statement.text, types: [] });
          wire.parsedStatements[statement.name] = statement.text;
          this.preparedHere.add(index);
        }
        wire.bind({ statement: statement.name, values: values[index]! });
        if (!this.shapes.has(statement.name)) wire.describe({ type: 'P', name: '' });
        wire.execute({ portal: '', rows: 0 });
      });
      wire.sync();
    } finally {
      wire.stream.uncork();
    }
    return null;
  };

  handleRowDescription(message: { fields: FieldDescription[] }): void {
    this.shape = {
      names: message.fields.map((field) => field.name),
      parsers: message.fields.map((field) => pg.types.getTypeParser(field.dataTypeID, 'text') as (text: string) => unknown),
    };
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    // Described this time, or at the statement's first execution.
    const shape = this.shape ?? this.shapes.get(this.statements[this.answered]!.name)!;
    const row: Record<string, unknown> = {};
    message.fields.forEach((text, i) => { row[shape.names[i]!] = text === null ? null : shape.parsers[i]!(text); });
    this.received.push(row);
  }

  handleCommandComplete(): void {
    const statement = this.statements[this.answered]!;
    if (!this.shapes.has(statement.name)) this.shapes.set(statement.name, this.shape ?? NO_ROWS);
    const rows = this.received;
    this.answered += 1;
    this.received = [];
    this.shape = undefined;
    statement.resolve(rows);
  }

  handleEmptyQuery(): void {
    this.handleCommandComplete();
  }

  handleError(error: Error, connection?: pg.Connection): void {
    const failed = this.answered;
    if (this.preparedHere.has(failed)) this.onUncertainPreparation();
    const wire = connection as unknown as ProtocolConnection | undefined;
    for (let index = failed; index < this.statements.length; index += 1) {
      // Skipped after the error: not prepared after all.
      if (index > failed && this.preparedHere.has(index) && wire) delete wire.parsedStatements[this.statements[index]!.name];
      this.statements[index]!.reject(error);
    }
    this.answered = this.statements.length;
  }

  handleReadyForQuery(): void {
    // Every statement was answered before the Sync's ReadyForQuery; this only guards the count.
    if (this.answered < this.statements.length) this.handleError(new Error('statement group ended before all its statements were answered'));
  }
}

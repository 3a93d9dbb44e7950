/** pg's own conversion of JavaScript values to parameters (exported by pg as `pg/lib/utils`, untyped). */
declare module 'pg/lib/utils.js' {
  export function prepareValue(value: unknown): unknown;
}

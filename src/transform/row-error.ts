/**
 * A problem with one row that is not the transform's own exception: a bad field
 * count, a value an epoch or JSON mapping cannot read, a return value of the wrong
 * shape. `--on-error` decides what happens to the row.
 */
export class RowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RowError';
  }
}

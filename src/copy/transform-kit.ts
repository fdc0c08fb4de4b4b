/**
 * What a copy run needs for a transform, loaded only when the run has one: a copy
 * without a transform never loads the transform stack (csv-parse, the pipeline).
 */
export { startTransform } from '../transform/setup.js';
export { addTotals, locateTransformedRow, TransformStage, transformedRows } from '../transform/stage.js';

/** The batch encoder for a plan's input format. */
import type { BatchEncoder } from './batch-encoder.js';
import { CsvBatchEncoder } from './csv-fields.js';
import type { EncodingPlan } from './plan.js';
import { TextBatchEncoder } from './text-fields.js';

export function createBatchEncoder(plan: EncodingPlan): BatchEncoder {
  return plan.format === 'csv' ? new CsvBatchEncoder(plan) : new TextBatchEncoder(plan);
}

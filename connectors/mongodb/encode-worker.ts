/** Piscina worker: one batch of raw BSON documents → text COPY bytes (transferred back, not cloned). */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { type DocumentLayout, encodeDocuments, type EncodePlan } from './document-encoding.js';

export interface EncodeTask {
  /** BSON documents laid end to end (transferred in). */
  buf: ArrayBuffer;
  plan: EncodePlan;
  layout: DocumentLayout;
}

export default function encodeTask({ buf, plan, layout }: EncodeTask): unknown {
  const result = encodeDocuments(new Uint8Array(buf), plan, layout);
  return move({
    get [transferableSymbol]() {
      return [result.bytes.buffer];
    },
    get [valueSymbol]() {
      return result;
    },
  } as unknown as ArrayBuffer);
}

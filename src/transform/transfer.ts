/**
 * Batches cross threads as transferred ArrayBuffers, never as cloned bytes: a value
 * wrapped here carries its buffers in piscina's transfer list (Piscina.move), on the
 * way to a worker and on the way back.
 */
import type { Piscina as PiscinaClass } from 'piscina';

/** `piscina` is the loaded module's class: the main thread loads it only when a pool starts. */
export function movable<T extends object>(Piscina: typeof PiscinaClass, value: T, buffers: ArrayBufferLike[]): T {
  return Piscina.move({
    [Piscina.transferableSymbol]: buffers,
    [Piscina.valueSymbol]: value,
  } as never) as unknown as T;
}

/**
 * A transferable copy of `bytes`. A Buffer may be a view into a larger shared
 * ArrayBuffer (a read chunk, Node's Buffer pool): transferring that would detach
 * memory others use, so the bytes are copied into one the receiver owns.
 */
export function ownedArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const buffer = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buffer).set(bytes);
  return buffer;
}

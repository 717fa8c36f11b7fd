// Decoding the float32 buffers that Python sends (numpy '<f4', C order) with their shape.
//
// ipywidgets hands buffers to the front end as DataView objects; tests and other hosts may
// pass an ArrayBuffer or a typed array. A DataView into a larger message is often not
// 4-byte aligned, so the bytes are copied when a zero-copy view is impossible.

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Number of elements of a shape (1 for the scalar shape []). */
export function size(shape) {
  return shape.reduce((n, d) => n * d, 1);
}

/** A Float32Array over the bytes of a DataView, ArrayBuffer, typed array or null. */
export function toFloat32Array(buffer) {
  if (buffer == null) return new Float32Array(0);
  if (buffer instanceof Float32Array) return buffer;
  let bytes;
  if (buffer instanceof ArrayBuffer) {
    bytes = new Uint8Array(buffer);
  } else if (ArrayBuffer.isView(buffer)) {
    bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } else {
    throw new TypeError(`expected binary data (DataView, ArrayBuffer or typed array), got ${typeof buffer}`);
  }
  if (bytes.byteLength % 4 !== 0) {
    throw new Error(`float32 data must be a multiple of 4 bytes, got ${bytes.byteLength}`);
  }
  const n = bytes.byteLength / 4;
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  }
  if (LITTLE_ENDIAN) return new Float32Array(bytes.slice().buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/**
 * A read-only n-d float32 tensor: {data, shape, strides, get(...index)}.
 *
 * Throws when the number of values does not match the shape, naming both.
 *
 * Example: decodeTensor(new Float32Array([1, 2, 3, 4]), [2, 2]).get(1, 0)  // 3
 */
export function decodeTensor(buffer, shape) {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const data = toFloat32Array(buffer);
  const expected = size(shape);
  if (data.length !== expected) {
    throw new Error(
      `float32 buffer holds ${data.length} values but shape ${JSON.stringify(shape)} needs ${expected}`,
    );
  }
  const strides = new Array(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  const offset = (index) => {
    if (index.length !== shape.length) {
      throw new Error(`index has ${index.length} dims, tensor has ${shape.length}`);
    }
    let o = 0;
    for (let i = 0; i < index.length; i++) {
      const k = index[i];
      if (!Number.isInteger(k) || k < 0 || k >= shape[i]) {
        throw new RangeError(`index ${k} out of range for dim ${i} of size ${shape[i]}`);
      }
      o += k * strides[i];
    }
    return o;
  };
  return {
    data,
    shape: shape.slice(),
    strides,
    get: (...index) => data[offset(index)],
    /** The contiguous sub-array at a leading index, e.g. one head's (T, T) pattern. */
    slice: (...index) => {
      let o = 0;
      for (let i = 0; i < index.length; i++) o += index[i] * strides[i];
      const n = index.length === 0 ? data.length : strides[index.length - 1];
      if (index.length > 0) offset([...index, ...new Array(shape.length - index.length).fill(0)]);
      return data.subarray(o, o + n);
    },
  };
}

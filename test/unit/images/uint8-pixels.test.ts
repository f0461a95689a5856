// A user image table with uint8 pixels (0–255) is read the same way whether the column is a List or a
// FixedSizeList: divided by 255 and recorded (`scale`), never silently taken as raw 0–255 floats; an
// integer type that is not uint8 is refused with a named error.
import {
  Field,
  FixedSizeList,
  Int16,
  List,
  Schema,
  Table,
  Uint8,
  type Data,
  makeData,
  makeVector,
  vectorFromArray,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { readUserImages } from '../../../activities/images.js';
import { encodeParquet } from '../../../storage/parquet.js';

const N = 4;
const SIZE = 4; // 2×2×1
const raw = Uint8Array.from({ length: N * SIZE }, (_x, i) => (i * 37) % 256);

function userTable(pixelType: 'list' | 'fsl', item: Uint8 | Int16 = new Uint8()): Uint8Array {
  const values = item instanceof Int16 ? Int16Array.from(raw) : raw;
  const child =
    item instanceof Int16
      ? makeData({ type: item, length: N * SIZE, data: values as Int16Array })
      : makeData({ type: item, length: N * SIZE, data: values as Uint8Array });
  const field = new Field('item', item, false);
  const pixels =
    pixelType === 'fsl'
      ? makeData({ type: new FixedSizeList(SIZE, field), length: N, nullCount: 0, child })
      : makeData({
          type: new List(field),
          length: N,
          nullCount: 0,
          valueOffsets: Int32Array.from({ length: N + 1 }, (_x, i) => i * SIZE),
          child,
        });
  const t = new Table({
    id: vectorFromArray(['a', 'b', 'c', 'd']),
    label: makeVector(Int32Array.of(0, 1, 0, 1)),
    pixels: makeVector(pixels as Data),
  });
  const meta = new Map([
    ['h', '2'],
    ['w', '2'],
    ['c', '1'],
  ]);
  return encodeParquet(new Table(new Schema(t.schema.fields, meta), t.batches));
}

describe('user image tables with uint8 pixels', () => {
  it('List<uint8> and FixedSizeList<uint8> give the same pixels, divided by 255, and say so', () => {
    const list = readUserImages(userTable('list'), 'list.parquet', 2);
    const fsl = readUserImages(userTable('fsl'), 'fsl.parquet', 2);
    expect(list.scale).toBe('uint8/255');
    expect(fsl.scale).toBe('uint8/255');
    expect(Array.from(fsl.rows.pixels)).toEqual(Array.from(list.rows.pixels));
    expect(Array.from(list.rows.pixels)).toEqual(Array.from(raw, (v) => Math.fround(v / 255)));
    expect(Math.max(...list.rows.pixels)).toBeLessThanOrEqual(1);
  });

  it('refuses other integer pixels by name', () => {
    for (const kind of ['list', 'fsl'] as const)
      expect(() => readUserImages(userTable(kind, new Int16()), `${kind}.parquet`, 2)).toThrow(
        expect.objectContaining({
          type: 'ImagePixelTypeUnsupported',
          message: expect.stringMatching(/"pixels" in (list|fsl)\.parquet: items are int16/),
        }),
      );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lineColumn, pointerLine, scanJson } from './json-scan.ts';

describe('scanJson', () => {
  it('accepts exactly what JSON.parse accepts', () => {
    const texts = fc.oneof(
      fc.json(),
      // Valid JSON with one character changed, inserted or removed: mostly invalid, near-valid.
      fc
        .tuple(
          fc.json(),
          fc.nat(),
          fc.constantFrom(',', ']', '}', '"', ':', '0', '-', '.', 'e', '\\', '\n', ' ', ''),
        )
        .map(([t, n, c]) => {
          const i = n % (t.length + 1);
          return n % 2 === 0 ? t.slice(0, i) + c + t.slice(i + 1) : t.slice(0, i) + c + t.slice(i);
        }),
    );
    fc.assert(
      fc.property(texts, (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        expect(scanJson(text).error === null).toBe(valid);
      }),
      { numRuns: 2000 },
    );
  });

  it('finds the error where V8 does, whenever V8 says where', () => {
    const broken = fc
      .tuple(fc.json(), fc.nat(), fc.constantFrom(',', ']', '}', ':', '1', 'x', '"'))
      .map(([t, n, c]) => {
        const pretty = JSON.stringify(JSON.parse(t), null, 2);
        const i = n % (pretty.length + 1);
        return pretty.slice(0, i) + c + pretty.slice(i);
      });
    let compared = 0;
    fc.assert(
      fc.property(broken, (text) => {
        let message = '';
        try {
          JSON.parse(text);
          return;
        } catch (e) {
          message = (e as Error).message;
        }
        const v8 = /\(line (\d+) column (\d+)\)/.exec(message);
        if (v8 === null) return;
        compared++;
        const found = scanJson(text).error;
        expect(found).not.toBeNull();
        expect(lineColumn(text, found!.offset).line).toBe(Number(v8[1]));
      }),
      { numRuns: 1000 },
    );
    expect(compared).toBeGreaterThan(100);
  });

  it('records the line of every key and array element', () => {
    const text = ['{', '  "a": {', '    "b/c": [', '      1,', '      {"d~e": 2}', '    ]', '  }', '}'].join(
      '\n',
    );
    const { offsets, error } = scanJson(text);
    expect(error).toBeNull();
    const line = (p: string) => pointerLine(text, offsets, p);
    expect(line('/a')).toBe(2);
    expect(line('/a/b~1c')).toBe(3);
    expect(line('/a/b~1c/0')).toBe(4);
    expect(line('/a/b~1c/1')).toBe(5);
    expect(line('/a/b~1c/1/d~0e')).toBe(5);
    // Not written: the nearest written ancestor; the whole document: no line.
    expect(line('/a/b~1c/1/missing')).toBe(5);
    expect(line('/zzz')).toBeNull();
    expect(line('')).toBeNull();
  });

  it('locates a key by its own line even when its value is on the next', () => {
    const text = '{\n  "key":\n\n    [1]\n}';
    expect(pointerLine(text, scanJson(text).offsets, '/key')).toBe(2);
    expect(pointerLine(text, scanJson(text).offsets, '/key/0')).toBe(4);
  });

  it('keeps the last of duplicate keys, as JSON.parse does', () => {
    const text = '{\n"a": 1,\n"a": 2\n}';
    expect(pointerLine(text, scanJson(text).offsets, '/a')).toBe(3);
  });

  it('survives nesting deep enough to overflow a recursive scanner', () => {
    const text = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expect(scanJson(text).error).toBeNull();
    expect(scanJson(`${text}]`).error?.offset).toBe(400_000);
  });

  it('records locations 32 levels deep; deeper pointers get the line of that ancestor', () => {
    const text = `[${'\n['.repeat(39)}${']'.repeat(40)}`;
    const { offsets } = scanJson(text);
    expect(pointerLine(text, offsets, '/0'.repeat(32))).toBe(33);
    expect(pointerLine(text, offsets, '/0'.repeat(40))).toBe(33);
  });
});

describe('lineColumn', () => {
  it('counts \\n, \\r\\n and a lone \\r as one line break each', () => {
    const text = 'a\nb\r\nc\rd';
    expect(lineColumn(text, 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn(text, 2)).toEqual({ line: 2, column: 1 });
    expect(lineColumn(text, 5)).toEqual({ line: 3, column: 1 });
    expect(lineColumn(text, 7)).toEqual({ line: 4, column: 1 });
    expect(lineColumn(text, 8)).toEqual({ line: 4, column: 2 });
  });
});

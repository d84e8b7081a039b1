// A position-tracking JSON scanner for error reports: JSON.parse says neither where a field is
// nor, for some syntax errors, where the error is (V8 sometimes quotes a snippet instead of a
// position). It scans strictly by RFC 8259, records where every member and array element starts
// by JSON pointer, and stops at the first syntax error. Iterative, so deep nesting cannot
// overflow the stack. Only used on the error path; parsing itself stays JSON.parse.

export interface JsonScan {
  /** Offset of each member's key, or of each array element's first character, by JSON pointer. */
  offsets: Map<string, number>;
  /** The first syntax error, or null when the text is one valid JSON value. */
  error: { offset: number; message: string } | null;
}

interface Frame {
  /** null below MAX_POINTER_DEPTH. */
  pointer: string | null;
  array: boolean;
  index: number;
}

class SyntaxStop {
  readonly offset: number;
  readonly message: string;
  constructor(offset: number, message: string) {
    this.offset = offset;
    this.message = message;
  }
}

/**
 * Locations are recorded this deep only: error pointers never go much below the schema's own
 * depth (six), and building every pointer of a pathologically deep document would cost time
 * quadratic in its depth.
 */
const MAX_POINTER_DEPTH = 32;

export function pointerChild(pointer: string, key: string | number): string {
  return `${pointer}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

/** The offending text: a whole word (`tru`, `undefined`) rather than its first letter. */
function shown(text: string, pos: number): string {
  const word = /^[A-Za-z_$][\w$]*/.exec(text.slice(pos, pos + 40));
  return JSON.stringify(word === null ? text[pos] : word[0]);
}

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** The offset just past the string starting at `pos` (a double quote). */
function skipString(text: string, pos: number): number {
  let i = pos + 1;
  for (;;) {
    if (i >= text.length) throw new SyntaxStop(text.length, 'unterminated string');
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c < 0x20) throw new SyntaxStop(i, 'control character in a string (write it as an escape)');
    if (c === 0x5c) {
      const e = text[i + 1];
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          throw new SyntaxStop(i, 'a \\u escape needs four hex digits');
        }
        i += 6;
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
        i += 2;
      } else {
        throw new SyntaxStop(i, 'invalid escape in a string');
      }
    } else {
      i++;
    }
  }
}

function skipDigits(text: string, pos: number, what: string): number {
  if (!isDigit(text.charCodeAt(pos))) throw new SyntaxStop(pos, `expected a digit in ${what}`);
  let i = pos + 1;
  while (isDigit(text.charCodeAt(i))) i++;
  return i;
}

function skipNumber(text: string, pos: number): number {
  let i = pos;
  if (text[i] === '-') i++;
  if (text[i] === '0') i++;
  else i = skipDigits(text, i, 'a number');
  if (text[i] === '.') i = skipDigits(text, i + 1, "a number's fraction");
  if (text[i] === 'e' || text[i] === 'E') {
    i++;
    if (text[i] === '+' || text[i] === '-') i++;
    i = skipDigits(text, i, "a number's exponent");
  }
  return i;
}

export function scanJson(text: string): JsonScan {
  const offsets = new Map<string, number>();
  const stack: Frame[] = [];
  // What may come next: a value, a value or `]` (after `[`), a key or `}` (after `{`), a key
  // (after `,` in an object), `:`, `,` or the container's end, or nothing (after the root).
  let expect: 'value' | 'valueOrEnd' | 'keyOrEnd' | 'key' | 'colon' | 'commaOrEnd' | 'eof' = 'value';
  let pending: string | null = '';
  let pos = 0;
  try {
    for (;;) {
      while (pos < text.length && isWhitespace(text.charCodeAt(pos))) pos++;
      if (pos >= text.length) {
        if (expect === 'eof') return { offsets, error: null };
        throw new SyntaxStop(
          pos,
          text.trim() === '' ? 'no JSON value (the text is empty)' : 'unexpected end',
        );
      }
      const c = text[pos];
      const top = stack.at(-1);
      if (expect === 'value' || expect === 'valueOrEnd') {
        if (expect === 'valueOrEnd' && c === ']') {
          stack.pop();
          pos++;
          expect = stack.length === 0 ? 'eof' : 'commaOrEnd';
          continue;
        }
        // A member is located by its key (recorded above); the root and elements by their start.
        if (top === undefined) pending = '';
        else if (top.array) pending = top.pointer === null ? null : pointerChild(top.pointer, top.index);
        if (pending !== null && (top === undefined || top.array)) offsets.set(pending, pos);
        if (c === '{' || c === '[') {
          stack.push({
            pointer: stack.length < MAX_POINTER_DEPTH ? pending : null,
            array: c === '[',
            index: 0,
          });
          pos++;
          expect = c === '{' ? 'keyOrEnd' : 'valueOrEnd';
          continue;
        }
        if (c === '"') pos = skipString(text, pos);
        else if (c === '-' || isDigit(text.charCodeAt(pos))) pos = skipNumber(text, pos);
        else {
          const word = ['true', 'false', 'null'].find((w) => text.startsWith(w, pos));
          if (word === undefined)
            throw new SyntaxStop(pos, `unexpected ${shown(text, pos)}, expected a value`);
          pos += word.length;
        }
        expect = stack.length === 0 ? 'eof' : 'commaOrEnd';
      } else if (expect === 'keyOrEnd' || expect === 'key') {
        if (expect === 'keyOrEnd' && c === '}') {
          stack.pop();
          pos++;
          expect = stack.length === 0 ? 'eof' : 'commaOrEnd';
          continue;
        }
        if (c !== '"')
          throw new SyntaxStop(pos, `unexpected ${shown(text, pos)}, expected a "quoted" property name`);
        const end = skipString(text, pos);
        const parent = (top as Frame).pointer;
        pending = parent === null ? null : pointerChild(parent, JSON.parse(text.slice(pos, end)) as string);
        // A duplicate key overwrites, as JSON.parse keeps the last one.
        if (pending !== null) offsets.set(pending, pos);
        pos = end;
        expect = 'colon';
      } else if (expect === 'colon') {
        if (c !== ':')
          throw new SyntaxStop(pos, `unexpected ${shown(text, pos)}, expected ':' after a property name`);
        pos++;
        expect = 'value';
      } else if (expect === 'commaOrEnd') {
        const frame = top as Frame;
        const close = frame.array ? ']' : '}';
        if (c === ',') {
          pos++;
          frame.index++;
          expect = frame.array ? 'value' : 'key';
        } else if (c === close) {
          stack.pop();
          pos++;
          expect = stack.length === 0 ? 'eof' : 'commaOrEnd';
        } else {
          throw new SyntaxStop(pos, `unexpected ${shown(text, pos)}, expected ',' or '${close}'`);
        }
      } else {
        throw new SyntaxStop(pos, `unexpected ${shown(text, pos)} after the end of the JSON value`);
      }
    }
  } catch (e) {
    if (e instanceof SyntaxStop) return { offsets, error: { offset: e.offset, message: e.message } };
    throw e;
  }
}

/** 1-based line and column of an offset; `\n`, `\r\n` and a lone `\r` each end a line. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * The line a JSON pointer's field is on; for a field that is not written (a missing required
 * property), the line of its nearest written ancestor. null for the whole document or when
 * nothing on the path is found.
 */
export function pointerLine(text: string, offsets: Map<string, number>, pointer: string): number | null {
  let p = pointer;
  while (p !== '') {
    const offset = offsets.get(p);
    if (offset !== undefined) return lineColumn(text, offset).line;
    p = p.slice(0, p.lastIndexOf('/'));
  }
  return null;
}

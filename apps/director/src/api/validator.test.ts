import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { convertStrings, typeboxValidatorCompiler } from './validator.ts';

const Query = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, default: 100 })),
    ratio: Type.Optional(Type.Number()),
    on: Type.Optional(Type.Boolean()),
    name: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

describe('convertStrings', () => {
  it('converts exact integers, numbers and booleans, and nothing else', () => {
    expect(convertStrings(Query, { limit: '5', ratio: '0.5', on: 'true', name: '7' })).toEqual({
      limit: 5,
      ratio: 0.5,
      on: true,
      name: '7',
    });
    for (const text of ['5.5', '', '1e2', '0x10', ' 5', '5 ', 'Infinity']) {
      expect(convertStrings(Query, { limit: text }), text).toEqual({ limit: text });
    }
  });
});

describe('typeboxValidatorCompiler', () => {
  const validate = (httpPart: string, data: unknown) =>
    (
      typeboxValidatorCompiler({ schema: Query, httpPart, method: 'GET', url: '/' }) as (
        d: unknown,
      ) => unknown
    )(data);

  it('fills defaults and converts query strings', () => {
    expect(validate('querystring', {})).toEqual({ value: { limit: 100 } });
    expect(validate('querystring', { limit: '7' })).toEqual({ value: { limit: 7 } });
  });

  it('explains a refusal as the loader does: allowed values, known properties, ranges', () => {
    const Body = Type.Object(
      {
        mode: Type.Union([Type.Literal('a'), Type.Literal('b')]),
        n: Type.Integer({ minimum: 1, maximum: 9 }),
      },
      { additionalProperties: false },
    );
    const check = typeboxValidatorCompiler({ schema: Body, httpPart: 'body', method: 'PUT', url: '/' }) as (
      d: unknown,
    ) => { error?: Array<{ instancePath: string; message: string }> };
    expect(check({ mode: 'c', n: 1 }).error).toMatchObject([
      { instancePath: '/mode', message: 'must be one of "a", "b" (got "c")' },
    ]);
    expect(check({ mode: 'a', n: 1, x: true }).error).toMatchObject([
      { instancePath: '/x', message: 'is an unknown property (expected one of: mode, n)' },
    ]);
    expect(check({ mode: 'a', n: 10 }).error).toMatchObject([
      { instancePath: '/n', message: 'must be an integer from 1 to 9 (got 10)' },
    ]);
  });

  it('does not convert bodies, and rejects unknown properties instead of removing them', () => {
    expect(validate('body', { limit: '7' })).toHaveProperty('error');
    expect(validate('body', { limit: 7, extra: 1 })).toHaveProperty('error');
  });
});

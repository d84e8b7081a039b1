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

  it('does not convert bodies, and rejects unknown properties instead of removing them', () => {
    expect(validate('body', { limit: '7' })).toHaveProperty('error');
    expect(validate('body', { limit: 7, extra: 1 })).toHaveProperty('error');
  });
});

import { ConfigValidationError, ConflictError, NotFoundError, PreconditionFailedError } from '@sluice/config';
import { describe, expect, it } from 'vitest';
import { ApiError, ERROR_TABLE, toErrorReply, validationField } from './errors.ts';

describe('toErrorReply', () => {
  it('maps each typed error of @sluice/config by its code', () => {
    expect(toErrorReply(new ConfigValidationError('/services/0/port', 'must be integer'))).toMatchObject({
      status: 400,
      body: { error: 'invalid', code: 'SLUICE_ERR_CONFIG_INVALID', field: '/services/0/port' },
    });
    expect(toErrorReply(new PreconditionFailedError('stale')).status).toBe(412);
    expect(toErrorReply(new NotFoundError('none')).status).toBe(404);
    expect(toErrorReply(new ConflictError('taken')).status).toBe(409);
  });

  it('gives every code of the table its status, and ApiError its headers and field', () => {
    for (const [code, { status, error }] of Object.entries(ERROR_TABLE)) {
      const reply = toErrorReply(Object.assign(new Error('m'), { code }));
      expect(reply.status, code).toBe(status);
      expect(reply.body.error, code).toBe(error);
    }
    const r = toErrorReply(
      new ApiError('SLUICE_ERR_API_UNAUTHORIZED', 'no', { headers: { 'www-authenticate': 'Bearer' } }),
    );
    expect(r.headers).toEqual({ 'www-authenticate': 'Bearer' });
    expect(toErrorReply(new ApiError('SLUICE_ERR_API_INVALID', 'bad', { field: 'real' })).body.field).toBe(
      'real',
    );
  });

  it('hides the message of anything else', () => {
    for (const thrown of [
      new Error('/var/lib/sluice: EACCES'),
      'a string',
      null,
      { code: 'ERR_SOMETHING', message: 'x' },
    ]) {
      expect(toErrorReply(thrown)).toEqual({
        status: 500,
        body: { error: 'internal', code: 'SLUICE_ERR_API_INTERNAL', message: 'internal error' },
        headers: {},
      });
    }
  });
});

describe('validationField', () => {
  it("reads ajv's params as well as TypeBox's", () => {
    expect(
      validationField(
        [{ keyword: 'required', instancePath: '/services/0', params: { missingProperty: 'vip' } }],
        'body',
      ),
    ).toMatchObject({ field: '/services/0/vip' });
    expect(
      validationField(
        [{ keyword: 'additionalProperties', instancePath: '', params: { additionalProperty: 'x' } }],
        'body',
      ),
    ).toMatchObject({ field: '/x' });
    expect(
      validationField(
        [{ keyword: 'required', instancePath: '', params: { requiredProperties: ['a', 'b'] } }],
        'body',
      ),
    ).toMatchObject({ field: '/a' });
  });

  it('escapes property names into JSON pointers and unescapes parameter names', () => {
    expect(
      validationField(
        [{ keyword: 'additionalProperties', instancePath: '/o', params: { additionalProperty: 'a/b~c' } }],
        'body',
      ),
    ).toMatchObject({ field: '/o/a~1b~0c' });
    expect(
      validationField(
        [{ keyword: 'additionalProperties', instancePath: '', params: { additionalProperty: 'a/b' } }],
        'querystring',
      ),
    ).toMatchObject({ field: 'a/b' });
  });

  it('names the deepest field, and a wrong value before a missing one', () => {
    const issues = [
      { keyword: 'required', instancePath: '/h', params: { requiredProperties: ['fall'] } },
      { keyword: 'type', instancePath: '/h/rise', message: 'must be integer' },
      { keyword: 'type', instancePath: '/h', message: 'must be null' },
      { keyword: 'anyOf', instancePath: '/h', message: 'must match a schema in anyOf' },
    ];
    expect(validationField(issues, 'body')).toEqual({ field: '/h/rise', message: 'must be integer' });
  });
});

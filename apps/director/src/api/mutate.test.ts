import { describe, expect, it } from 'vitest';
import { MemoryDirectorControl } from './memory-control.ts';
import { mutateConfig, parseIfMatch, resolveIfMatch } from './mutate.ts';
import { sampleConfig } from './test-support.ts';

describe('If-Match', () => {
  it('parses absent, *, one tag, a list, weak tags and junk', () => {
    expect(parseIfMatch(undefined)).toBeUndefined();
    expect(parseIfMatch(' * ')).toBe('*');
    expect(parseIfMatch('"v1-a"')).toEqual(['"v1-a"']);
    expect(parseIfMatch('"v1-a", W/"v2-b" ,"v3-c"')).toEqual(['"v1-a"', 'W/"v2-b"', '"v3-c"']);
    expect(parseIfMatch('v1-a')).toEqual(['v1-a']);
  });

  it('resolves to the running ETag only when the header allows it', () => {
    expect(resolveIfMatch(undefined, '"now"')).toBe('"now"');
    expect(resolveIfMatch('*', '"now"')).toBe('"now"');
    expect(resolveIfMatch(['"old"', '"now"'], '"now"')).toBe('"now"');
    expect(resolveIfMatch(['"old"', '"older"'], '"now"')).toBe('"old"');
    expect(resolveIfMatch(['W/"now"'], '"now"')).toBe('W/"now"');
  });
});

describe('mutateConfig', () => {
  it('gives up after a few concurrent changes in a row without If-Match (412)', async () => {
    const control = new MemoryDirectorControl(sampleConfig());
    let changes = 0;
    const busy = () => {
      changes++;
      control.setConfigDirectly(control.getConfig().config);
      control.beforeApply = busy;
    };
    control.beforeApply = busy;
    await expect(
      mutateConfig(control, undefined, (c) => {
        c.overlay.vni = 5;
        return c;
      }),
    ).rejects.toMatchObject({ code: 'SLUICE_ERR_CONFIG_PRECONDITION' });
    expect(changes).toBe(3);
    expect(control.applyCalls).toBe(3);
  });

  it('calls the change with a copy: a change that throws leaves nothing behind', async () => {
    const control = new MemoryDirectorControl(sampleConfig());
    await expect(
      mutateConfig(control, undefined, (c) => {
        c.services.length = 0;
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(control.getConfig().config).toEqual(sampleConfig());
  });
});

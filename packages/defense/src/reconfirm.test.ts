import { ConnBit, ConnFlag } from '@sluice/conntrack';
import { describe, expect, it } from 'vitest';
import { nearerThan, provisionalFor } from './reconfirm.ts';

describe('provisionalFor', () => {
  it('is provisionalMs for near sources, one and a half round trips for far ones, at most maxMs', () => {
    expect(provisionalFor(80, 500, 1000)).toBe(500);
    expect(provisionalFor(400, 500, 1000)).toBe(600);
    expect(provisionalFor(900, 500, 1000)).toBe(1000);
  });
});

describe('nearerThan', () => {
  const request = ConnFlag.handshake | ConnFlag.data | ConnFlag.awaiting;
  it('reads a first request sent well inside the measured trip as a nearer source: twice its time', () => {
    expect(nearerThan(1000, 1000, request, 20)).toBe(40);
    expect(nearerThan(1000, 1000, request, 0)).toBe(1);
  });
  it('leaves a request sent at half the trip or later alone: real trips vary, the measured one is the longest', () => {
    expect(nearerThan(700, 1000, request, 350)).toBe(0);
    expect(nearerThan(700, 1000, request, 600)).toBe(0);
  });
  it('reads data acknowledged inside two trips as half the age', () => {
    expect(nearerThan(1000, 1000, ConnFlag.handshake | ConnFlag.progress, -1)).toBe(500);
    expect(nearerThan(500, 1000, ConnFlag.handshake | ConnFlag.progress, -1)).toBe(0);
  });
  it('reads nothing from a wait its shut window began, or with no request waiting', () => {
    expect(nearerThan(1000, 1000, request | ConnBit.windowShut, 20)).toBe(0);
    expect(nearerThan(1000, 1000, ConnFlag.handshake | ConnFlag.data, 20)).toBe(0);
    expect(nearerThan(1000, 1000, ConnFlag.handshake, 20)).toBe(0);
  });
});

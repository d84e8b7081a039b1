import { describe, expect, it } from 'vitest';
import { nextTcpState, TcpState } from './index.ts';

const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
const RST = 0x04;

describe('IPVS TCP states (INPUT-ONLY, direct routing)', () => {
  it('walks a normal connection: SYN, ACK, data, FIN, last ACK', () => {
    let s: number = TcpState.none;
    s = nextTcpState(s, SYN, false);
    expect(s).toBe(TcpState.synRecv);
    s = nextTcpState(s, ACK, false);
    expect(s).toBe(TcpState.established);
    s = nextTcpState(s, ACK | 0x08, false);
    expect(s).toBe(TcpState.established);
    s = nextTcpState(s, FIN | ACK, false);
    expect(s).toBe(TcpState.finWait);
    s = nextTcpState(s, ACK, false);
    expect(s).toBe(TcpState.finWait);
  });

  it('RST wins over every other flag, and a flagless segment closes, as in set_tcp_state()', () => {
    expect(nextTcpState(TcpState.established, RST | ACK | SYN, false)).toBe(TcpState.close);
    expect(nextTcpState(TcpState.synRecv, RST, false)).toBe(TcpState.synRecv);
    expect(nextTcpState(TcpState.established, 0, false)).toBe(TcpState.close);
  });

  it('secure_tcp: a first SYN goes to SYNACK, an ACK from there to ESTABLISHED', () => {
    expect(nextTcpState(TcpState.none, SYN, true)).toBe(TcpState.synAck);
    expect(nextTcpState(TcpState.synAck, ACK, true)).toBe(TcpState.established);
    expect(nextTcpState(TcpState.synRecv, ACK, true)).toBe(TcpState.established);
  });
});

// The demo's control-plane port: the usual one if free, else any, so a second director on the
// machine does not stop the demo. The director process itself is @sluice/lab's DirectorProcess.
import { freeTcpPort, tcpPortFree } from '@sluice/lab';

/** `preferred` if free on `host`, else any free port there. */
export async function pickApiPort(host: string, preferred: number): Promise<number> {
  return (await tcpPortFree(host, preferred)) ? preferred : freeTcpPort(host);
}

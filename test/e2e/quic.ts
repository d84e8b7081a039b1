// Real QUIC in the namespace lab: Debian's ngtcp2 example programs (gtlsclient from ngtcp2-client,
// gtlsserver from ngtcp2-server, both GnuTLS-backed) as the client and the real servers, and
// nftables as the witness of where every datagram went.
//
// The example server picks its connection IDs at random and has no option to shape them, so each
// real server runs with tools/lab/quic/cid-prefix.c preloaded: every CID it issues then starts
// with the QUIC-LB first octet and its server ID, the rest staying random. The shim is compiled
// here with the system `cc` into a temp dir, next to a self-signed certificate (openssl) and the
// file the client downloads.
//
// Counting is done by the kernels, not by the director: an nft counter on each real server's input
// hook (datagrams that reached it) and, on the client, a counter plus a set of the source
// address/port pairs on postrouting, after any NAT (datagrams sent and the paths they took).
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type ExecResult, type LabNode, REPO_ROOT } from '@sluice/lab';
import { sleep } from './wait.ts';

const execFileP = promisify(execFile);

const CID_PREFIX_SOURCE = join(REPO_ROOT, 'tools', 'lab', 'quic', 'cid-prefix.c');
/** The nft table this suite owns in every namespace. */
const TABLE = 'sluiceq';

/** Runs argv in the root namespace; rejects with its stderr on failure. */
async function must(argv: readonly string[]): Promise<void> {
  await execFileP(argv[0], argv.slice(1));
}

/** Runs argv in the node's namespace and returns stdout; throws with stderr on failure. */
async function inNode(node: LabNode, argv: readonly string[]): Promise<string> {
  const r = await node.exec(argv);
  if (r.code !== 0)
    throw new Error(`${argv.join(' ')} on ${node.label} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** The shim, a certificate and a document root, in a temp dir removed by `cleanup`. */
export class QuicFiles {
  readonly dir: string;
  readonly shim: string;
  readonly key: string;
  readonly cert: string;
  readonly htdocs: string;
  readonly blobBytes: number;

  private constructor(dir: string, blobBytes: number) {
    this.dir = dir;
    this.shim = join(dir, 'cid-prefix.so');
    this.key = join(dir, 'key.pem');
    this.cert = join(dir, 'cert.pem');
    this.htdocs = join(dir, 'htdocs');
    this.blobBytes = blobBytes;
  }

  /** Builds everything; `blobBytes` is the size of /blob, the file each client downloads. */
  static async create(blobBytes: number): Promise<QuicFiles> {
    const files = new QuicFiles(await mkdtemp(join(tmpdir(), 'sluice-quic-')), blobBytes);
    try {
      await must(['cc', '-shared', '-fPIC', '-O2', CID_PREFIX_SOURCE, '-o', files.shim, '-ldl']);
      await must([
        'openssl',
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=quic.test',
        '-keyout',
        files.key,
        '-out',
        files.cert,
      ]);
      await mkdir(files.htdocs);
      await writeFile(join(files.htdocs, 'blob'), Buffer.alloc(blobBytes, 'q'));
      return files;
    } catch (err) {
      await files.cleanup();
      throw err;
    }
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts gtlsserver in `node` on address:port, its connection IDs prefixed with `cidPrefix` (hex),
 * and resolves once its UDP socket is bound. The lab kills it on destroy.
 */
export async function startQuicServer(
  node: LabNode,
  files: QuicFiles,
  address: string,
  port: number,
  cidPrefix: string,
): Promise<ChildProcess> {
  const child = node.spawn(
    [
      'env',
      `LD_PRELOAD=${files.shim}`,
      `SLUICE_CID_PREFIX=${cidPrefix}`,
      'gtlsserver',
      '-q',
      '-d',
      files.htdocs,
      address,
      String(port),
      files.key,
      files.cert,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`gtlsserver on ${node.label} ${address}:${port} exited: ${stderr.trim()}`);
    }
    const r = await node.exec(['ss', '-Hlun', 'src', `${address}:${port}`]);
    if (r.stdout.trim() !== '') return child;
    await sleep(25);
  }
  throw new Error(`gtlsserver on ${node.label} ${address}:${port} not bound after 5 s: ${stderr.trim()}`);
}

export interface ClientRun {
  /** gtlsclient's exit status (-1: killed by the deadline). */
  code: number;
  /** What it printed (the tail; it is quiet unless something went wrong). */
  output: string;
  /** Bytes of /blob it saved; -1 when it saved nothing. */
  downloaded: number;
}

/**
 * Runs gtlsclient in `node` to fetch https://host:port/blob with `args` (the migration options),
 * exiting when the stream closes; an idle timeout of a few seconds ends a broken connection.
 */
export async function runQuicClient(
  node: LabNode,
  files: QuicFiles,
  host: string,
  port: number,
  args: readonly string[],
): Promise<ClientRun> {
  const download = await mkdtemp(join(files.dir, 'download-'));
  const r: ExecResult = await node.exec(
    [
      'gtlsclient',
      '-q',
      '--exit-on-all-streams-close',
      '--timeout=4s',
      `--download=${download}`,
      ...args,
      host,
      String(port),
      `https://${host}:${port}/blob`,
    ],
    { timeoutMs: 30_000 },
  );
  let downloaded = -1;
  const saved = await readdir(download);
  if (saved.includes('blob')) downloaded = (await stat(join(download, 'blob'))).size;
  await rm(download, { recursive: true, force: true });
  return { code: r.code, output: `${r.stdout}${r.stderr}`.slice(-3000), downloaded };
}

/** Loads an nft script in the node's namespace. */
export async function nft(node: LabNode, script: string): Promise<void> {
  const r = await node.exec(['nft', '-f', '-'], { input: script });
  if (r.code !== 0) throw new Error(`nft on ${node.label} failed: ${r.stderr.trim()}\n${script}`);
}

/** Removes the node's nft table `name` if there is one. */
export async function nftDrop(node: LabNode, family: string, name: string): Promise<void> {
  await nft(node, `table ${family} ${name} {}\ndelete table ${family} ${name}\n`);
}

/**
 * (Re)creates the counting table of a real server: one named counter per port, of the datagrams
 * for vip:port that reached its input hook.
 */
export async function countOnReal(node: LabNode, vip: string, ports: readonly number[]): Promise<void> {
  await nftDrop(node, 'inet', TABLE);
  const counters = ports.map((p) => `  counter p${p} {}`).join('\n');
  const rules = ports.map((p) => `    ip daddr ${vip} udp dport ${p} counter name "p${p}"`).join('\n');
  await nft(
    node,
    `table inet ${TABLE} {\n${counters}\n  chain input {\n    type filter hook input priority 0; policy accept;\n${rules}\n  }\n}\n`,
  );
}

/**
 * (Re)creates the counting table of a client: the datagrams it sent to vip:port and the distinct
 * source address/port pairs they left with, read after source NAT (postrouting, priority 300).
 */
export async function countOnClient(node: LabNode, vip: string, port: number): Promise<void> {
  await nftDrop(node, 'inet', TABLE);
  await nft(
    node,
    [
      `table inet ${TABLE} {`,
      '  counter sent {}',
      '  counter unreach {}',
      '  set paths { type ipv4_addr . inet_service; flags dynamic; size 1024; }',
      '  chain post {',
      '    type filter hook postrouting priority 300; policy accept;',
      `    ip daddr ${vip} udp dport ${port} counter name "sent" add @paths { ip saddr . udp sport }`,
      // The kernel's errors about the flow (a datagram for a socket the client has closed).
      `    ip daddr ${vip} icmp type destination-unreachable counter name "unreach"`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
}

interface NftJson {
  nftables: {
    counter?: { name: string; packets: number };
    set?: { name: string; elem?: { concat: [string, number] }[] };
  }[];
}

/** A real server's count of datagrams for `port` since countOnReal. */
export async function realCount(node: LabNode, port: number): Promise<number> {
  const out = await inNode(node, ['nft', '-j', 'list', 'counter', 'inet', TABLE, `p${port}`]);
  const c = (JSON.parse(out) as NftJson).nftables.find((o) => o.counter !== undefined)?.counter;
  if (c === undefined) throw new Error(`no counter p${port} on ${node.label}: ${out}`);
  return c.packets;
}

/**
 * What the client sent since countOnClient: datagrams, the `address:port` paths they took, and
 * ICMP errors to the VIP (which the director sends after the flow).
 */
export async function clientSent(node: LabNode): Promise<{ sent: number; icmp: number; paths: string[] }> {
  const counter = async (name: string): Promise<number> => {
    const out = await inNode(node, ['nft', '-j', 'list', 'counter', 'inet', TABLE, name]);
    const c = (JSON.parse(out) as NftJson).nftables.find((o) => o.counter !== undefined)?.counter;
    if (c === undefined) throw new Error(`client ${node.label} has no counter ${name}: ${out}`);
    return c.packets;
  };
  const set = await inNode(node, ['nft', '-j', 'list', 'set', 'inet', TABLE, 'paths']);
  const s = (JSON.parse(set) as NftJson).nftables.find((o) => o.set !== undefined)?.set;
  if (s === undefined) throw new Error(`client ${node.label} has no set paths: ${set}`);
  const paths = (s.elem ?? []).map((e) => `${e.concat[0]}:${e.concat[1]}`);
  return { sent: await counter('sent'), icmp: await counter('unreach'), paths: paths.sort() };
}

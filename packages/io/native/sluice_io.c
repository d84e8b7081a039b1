// sluice_io: batched UDP socket I/O for the serving workers, as a Node-API addon.
//
// One job: move many datagrams per system call between a UDP socket and caller-owned memory.
// recvmmsg fills fixed-size frame slots of a Uint8Array (an ArrayBuffer or SharedArrayBuffer)
// and writes each datagram's length, IPv4 source and port into an Int32Array; sendmmsg sends
// frames from arbitrary offsets of a Uint8Array, each to its own destination. No JS object is
// made per datagram and the per-batch calls never throw: they return a count or a negative
// errno, like the packet codecs return a status, so a bad argument or an OS error is a number
// the caller can count. Sockets are non-blocking; `wait` blocks the calling thread in poll(2)
// for at most the given time (a serving worker owns its thread, so blocking it is the cheapest
// way to sleep until a datagram arrives; see docs/ARCHITECTURE.md for the measurement).
//
// Each socket belongs to the thread (Node-API environment) that opened it: only that thread may
// use or close it, so a stale or wrong number from JS cannot touch another part of the process's
// files, and when the thread goes (worker.terminate(), a crash) an environment cleanup hook
// closes its sockets. Without that, a dead worker's SO_REUSEPORT socket would stay in the
// kernel's group and keep taking its share of the flows with nobody reading it.
//
// Loaded once per thread (context-aware: NAPI_MODULE_INIT), used from several worker threads at
// once; the only shared state is the owner table (atomics) and per-thread scratch.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <node_api.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "udp_gso.h"

// Most frames one call moves: bounds the per-thread scratch (about 100 KiB).
#define MAX_BATCH 1024
// Words per slot in the receive metadata: length, IPv4 source (host order), source port, flags.
#define RECV_WORDS 4
// Words per frame in the send list: offset, length, IPv4 destination (host order), port.
#define SEND_WORDS 4
#define FLAG_TRUNCATED 1
#define OPEN_REUSEPORT 1
// Descriptors tracked by the owner table; a socket numbered above is closed and refused.
#define MAX_FD (1 << 16)
// How long a send waits for room in a full socket buffer before giving up on the rest.
#define SEND_WAIT_MS 5

// The owning environment of each descriptor this addon opened (0: not ours).
static _Atomic uintptr_t owner[MAX_FD];
// Sockets whose route refused UDP GSO (by descriptor, written only by the owning thread; reset
// when the descriptor is opened again).
static uint8_t gso_refused[MAX_FD];

static int is_owned(napi_env env, int fd) {
  return fd >= 0 && fd < MAX_FD && atomic_load_explicit(&owner[fd], memory_order_acquire) == (uintptr_t)env;
}

// Runs when the owning thread's environment is torn down with the socket still open.
static void close_on_teardown(void *arg) {
  int fd = (int)(intptr_t)arg;
  atomic_store(&owner[fd], 0);
  close(fd);
}

static __thread struct mmsghdr msgs[MAX_BATCH];
static __thread struct iovec iovs[MAX_BATCH];
static __thread struct sockaddr_in addrs[MAX_BATCH];

// --- argument helpers: each returns 0 or -EINVAL, never throws --------------------------------

static int arg_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -EINVAL;
}

static int arg_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return -EINVAL;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok) return -EINVAL;
  if (type != want) return -EINVAL;
  return 0;
}

static napi_value ret_i32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static napi_value ret_f64(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

#define ARGS(n)                                                                \
  size_t argc = (n);                                                           \
  napi_value argv[(n)];                                                        \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < (n)) \
    return ret_i32(env, -EINVAL);

// --- open(address, port, flags, receiveBufferBytes, sendBufferBytes) → fd | -errno -----------

static void set_buffer(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return;
  // The FORCE variants pass net.core.[rw]mem_max when the process may (CAP_NET_ADMIN); else
  // the kernel clamps the plain option to that maximum.
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) != 0)
    setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

static napi_value io_open(napi_env env, napi_callback_info info) {
  ARGS(5);
  char address[64];
  size_t alen = 0;
  if (napi_get_value_string_utf8(env, argv[0], address, sizeof address, &alen) != napi_ok)
    return ret_i32(env, -EINVAL);
  int32_t port, flags, rcv, snd;
  if (arg_i32(env, argv[1], &port) || arg_i32(env, argv[2], &flags) || arg_i32(env, argv[3], &rcv) ||
      arg_i32(env, argv[4], &snd))
    return ret_i32(env, -EINVAL);
  if (port < 0 || port > 65535) return ret_i32(env, -EINVAL);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) return ret_i32(env, -EAFNOSUPPORT);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ret_i32(env, -errno);
  if (fd >= MAX_FD) {
    close(fd);
    return ret_i32(env, -EMFILE);
  }
  // SO_REUSEPORT only when asked, and no SO_REUSEADDR: for UDP that would let any later socket
  // share (and silently take over) the port, where a second director should get EADDRINUSE.
  int one = 1;
  if ((flags & OPEN_REUSEPORT) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno;
    close(fd);
    return ret_i32(env, -e);
  }
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcv);
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, snd);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    return ret_i32(env, -e);
  }
  if (napi_add_env_cleanup_hook(env, close_on_teardown, (void *)(intptr_t)fd) != napi_ok) {
    close(fd);
    return ret_i32(env, -ENOMEM);
  }
  gso_refused[fd] = 0;
  atomic_store(&owner[fd], (uintptr_t)env);
  return ret_i32(env, fd);
}

// --- localPort(fd) → port | -errno ------------------------------------------------------------

static napi_value io_local_port(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (arg_i32(env, argv[0], &fd)) return ret_i32(env, -EINVAL);
  if (!is_owned(env, fd)) return ret_i32(env, -EBADF);
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) return ret_i32(env, -errno);
  return ret_i32(env, ntohs(sa.sin_port));
}

// --- recv(fd, data: Uint8Array, slotBytes, first, max, meta: Int32Array) → count | -errno ------
// Slot i (first <= i < first + count) holds a datagram at data[i * slotBytes]; meta[i * 4 + 0..3]
// = length (the datagram's real length, also when it was cut), source IPv4 (host order), source
// port, flags (FLAG_TRUNCATED when the datagram was longer than its slot). 0 = nothing waiting.

static napi_value io_recv(napi_env env, napi_callback_info info) {
  ARGS(6);
  int32_t fd, slot, first, max;
  uint8_t *data;
  int32_t *meta;
  size_t dlen, mlen;
  if (arg_i32(env, argv[0], &fd) || arg_typed(env, argv[1], napi_uint8_array, (void **)&data, &dlen) ||
      arg_i32(env, argv[2], &slot) || arg_i32(env, argv[3], &first) || arg_i32(env, argv[4], &max) ||
      arg_typed(env, argv[5], napi_int32_array, (void **)&meta, &mlen))
    return ret_i32(env, -EINVAL);
  if (slot <= 0 || first < 0 || max <= 0 || max > MAX_BATCH) return ret_i32(env, -EINVAL);
  if ((uint64_t)(first + (uint64_t)max) * (uint64_t)slot > dlen ||
      (uint64_t)(first + (uint64_t)max) * RECV_WORDS > mlen)
    return ret_i32(env, -ERANGE);
  if (!is_owned(env, fd)) return ret_i32(env, -EBADF);
  for (int i = 0; i < max; i++) {
    iovs[i].iov_base = data + (size_t)(first + i) * (size_t)slot;
    iovs[i].iov_len = (size_t)slot;
    struct msghdr *h = &msgs[i].msg_hdr;
    h->msg_name = &addrs[i];
    h->msg_namelen = sizeof addrs[i];
    h->msg_iov = &iovs[i];
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
  }
  // MSG_TRUNC: msg_len is the datagram's real length even when it did not fit its slot.
  int n = recvmmsg(fd, msgs, (unsigned)max, MSG_DONTWAIT | MSG_TRUNC, NULL);
  if (n < 0) {
    int e = errno;
    return ret_i32(env, (e == EAGAIN || e == EWOULDBLOCK) ? 0 : -e);
  }
  int32_t *m = meta + (size_t)first * RECV_WORDS;
  for (int i = 0; i < n; i++, m += RECV_WORDS) {
    m[0] = (int32_t)msgs[i].msg_len;
    m[1] = (int32_t)ntohl(addrs[i].sin_addr.s_addr);
    m[2] = ntohs(addrs[i].sin_port);
    m[3] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? FLAG_TRUNCATED : 0;
  }
  return ret_i32(env, n);
}

// --- send(fd, data: Uint8Array, list: Int32Array, count[, flags]) → sent | -errno --------------
// list[i * 4 + 0..3] = offset into data, length, destination IPv4 (host order), port. Returns how
// many frames were handed to the kernel. A frame the kernel refuses (e.g. EMSGSIZE) is skipped,
// not retried; a full send buffer is waited on for SEND_WAIT_MS and the rest is dropped if it
// stays full (the caller counts count - sent as lost).
//
// SEND_GSO: runs of consecutive frames with the same destination and the same length go out as
// one message with UDP_SEGMENT (UDP GSO), their slots gathered by an iovec each, no copy: the
// stack is walked once per run instead of once per frame, and the receiver still gets one
// datagram per frame. A kernel or route that refuses it (EIO without checksum offload, EINVAL
// past the MTU) turns it off for this socket and the rest goes frame by frame.

#define SEND_GSO 1

static __thread int msg_first[MAX_BATCH];  // first frame of each message
static __thread int msg_frames[MAX_BATCH];  // frames in each message
static __thread char ctrl[MAX_BATCH][GSO_CONTROL_BYTES];

// Builds messages for frames [from, count) into msgs[0..]; returns the message count.
static int build_messages(int from, int count, int gso) {
  int m = 0;
  for (int i = from; i < count;) {
    int n = 1;
    if (gso) {
      size_t len = iovs[i].iov_len;
      size_t total = len;
      while (i + n < count && n < GSO_MAX_SEGMENTS && iovs[i + n].iov_len == len && len > 0 &&
             total + len <= GSO_MAX_BYTES && addrs[i + n].sin_addr.s_addr == addrs[i].sin_addr.s_addr &&
             addrs[i + n].sin_port == addrs[i].sin_port) {
        total += len;
        n++;
      }
    }
    struct msghdr *h = &msgs[m].msg_hdr;
    h->msg_name = &addrs[i];
    h->msg_namelen = sizeof addrs[i];
    h->msg_iov = &iovs[i];
    h->msg_iovlen = (size_t)n;
    h->msg_flags = 0;
    if (n > 1) {
      gso_attach(h, ctrl[m], (uint16_t)iovs[i].iov_len);
    } else {
      h->msg_control = NULL;
      h->msg_controllen = 0;
    }
    msg_first[m] = i;
    msg_frames[m] = n;
    m++;
    i += n;
  }
  return m;
}

static napi_value io_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return ret_i32(env, -EINVAL);
  int32_t fd, count, flags = 0;
  uint8_t *data;
  int32_t *list;
  size_t dlen, llen;
  if (arg_i32(env, argv[0], &fd) || arg_typed(env, argv[1], napi_uint8_array, (void **)&data, &dlen) ||
      arg_typed(env, argv[2], napi_int32_array, (void **)&list, &llen) || arg_i32(env, argv[3], &count) ||
      (argc >= 5 && arg_i32(env, argv[4], &flags)))
    return ret_i32(env, -EINVAL);
  if (count < 0 || count > MAX_BATCH) return ret_i32(env, -EINVAL);
  if ((size_t)count * SEND_WORDS > llen) return ret_i32(env, -ERANGE);
  if (!is_owned(env, fd)) return ret_i32(env, -EBADF);
  for (int i = 0; i < count; i++) {
    const int32_t *e = list + (size_t)i * SEND_WORDS;
    if (e[0] < 0 || e[1] < 0 || (uint64_t)e[0] + (uint64_t)e[1] > dlen || e[3] <= 0 || e[3] > 65535)
      return ret_i32(env, -ERANGE);
    iovs[i].iov_base = data + e[0];
    iovs[i].iov_len = (size_t)e[1];
    memset(&addrs[i], 0, sizeof addrs[i]);
    addrs[i].sin_family = AF_INET;
    addrs[i].sin_addr.s_addr = htonl((uint32_t)e[2]);
    addrs[i].sin_port = htons((uint16_t)e[3]);
  }
  int gso = (flags & SEND_GSO) && !gso_refused[fd];
  int nmsgs = build_messages(0, count, gso);
  int done = 0, sent = 0, waited = 0;
  while (done < nmsgs) {
    int r = sendmmsg(fd, msgs + done, (unsigned)(nmsgs - done), MSG_DONTWAIT);
    if (r > 0) {
      for (int k = done; k < done + r; k++) sent += msg_frames[k];
      done += r;
      continue;
    }
    int e = errno;
    if (r == 0) break;
    if (e == EINTR) continue;
    if ((e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) && !waited) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      waited = 1;
      if (poll(&p, 1, SEND_WAIT_MS) > 0) continue;
      break;
    }
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) break;
    if (e == EBADF || e == ENOTSOCK || e == EFAULT) return ret_i32(env, -e);
    if (msg_frames[done] > 1 && (e == EIO || e == EINVAL || e == EMSGSIZE || e == ENOPROTOOPT)) {
      // This route will not segment: frame by frame from here on, for this socket.
      gso_refused[fd] = 1;
      nmsgs = build_messages(msg_first[done], count, 0);
      done = 0;
      continue;
    }
    done++;  // this message is refused; the rest may still go
  }
  return ret_i32(env, sent);
}

// --- wait(fd, timeoutMs) → 1 readable | 0 timed out | -errno ----------------------------------

static napi_value io_wait(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd, ms;
  if (arg_i32(env, argv[0], &fd) || arg_i32(env, argv[1], &ms)) return ret_i32(env, -EINVAL);
  if (ms < 0 || ms > 60000) return ret_i32(env, -EINVAL);
  if (!is_owned(env, fd)) return ret_i32(env, -EBADF);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r = poll(&p, 1, ms);
  if (r < 0) return ret_i32(env, errno == EINTR ? 0 : -errno);
  return ret_i32(env, r > 0 ? 1 : 0);
}

// --- drops(fd) → datagrams the kernel dropped for this socket (full buffer) | -errno ------------
// SO_MEMINFO's SK_MEMINFO_DROPS is the socket's own sk_drops, the per-socket share of the UDP
// RcvbufErrors/InErrors counters of /proc/net/snmp.

static napi_value io_drops(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (arg_i32(env, argv[0], &fd)) return ret_i32(env, -EINVAL);
  if (!is_owned(env, fd)) return ret_i32(env, -EBADF);
  uint32_t mem[SK_MEMINFO_VARS];
  socklen_t len = sizeof mem;
  memset(mem, 0, sizeof mem);
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0) return ret_i32(env, -errno);
  if (len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t)) return ret_i32(env, -ENOPROTOOPT);
  return ret_f64(env, (double)mem[SK_MEMINFO_DROPS]);
}

// --- close(fd) → 0 | -errno -------------------------------------------------------------------

static napi_value io_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (arg_i32(env, argv[0], &fd)) return ret_i32(env, -EINVAL);
  if (!is_owned(env, fd)) return ret_i32(env, -EBADF);
  napi_remove_env_cleanup_hook(env, close_on_teardown, (void *)(intptr_t)fd);
  atomic_store(&owner[fd], 0);
  return ret_i32(env, close(fd) == 0 ? 0 : -errno);
}

// --- adviseHugePages(view: TypedArray) → bytes advised | -errno --------------------------------
// Asks for transparent huge pages (MADV_HUGEPAGE) on the 2 MiB-aligned part of a big buffer,
// such as the connection table's SharedArrayBuffer: with THP in `madvise` mode (the common
// default) the table would otherwise sit on 4 KiB pages and a lookup pay a TLB miss, a costly
// one under nested paging in a VM. Best called before the pages are first touched.

#define HUGE_PAGE (2u << 20)

static napi_value io_advise_huge_pages(napi_env env, napi_callback_info info) {
  ARGS(1);
  bool is = false;
  if (napi_is_typedarray(env, argv[0], &is) != napi_ok || !is) return ret_i32(env, -EINVAL);
  napi_typedarray_type type;
  size_t length, off;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &off) != napi_ok) return ret_i32(env, -EINVAL);
  size_t element = 1;
  switch (type) {
    case napi_int16_array: case napi_uint16_array: element = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: element = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: element = 8; break;
    default: element = 1;
  }
  uintptr_t start = ((uintptr_t)data + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
  uintptr_t end = ((uintptr_t)data + length * element) & ~(uintptr_t)(HUGE_PAGE - 1);
  if (end <= start) return ret_f64(env, 0);
  if (madvise((void *)start, end - start, MADV_HUGEPAGE) != 0) return ret_i32(env, -errno);
  return ret_f64(env, (double)(end - start));
}

static napi_value constant(napi_env env, int32_t v) { return ret_i32(env, v); }

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, io_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localPort", NULL, io_local_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recv", NULL, io_recv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, io_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"wait", NULL, io_wait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"drops", NULL, io_drops, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, io_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adviseHugePages", NULL, io_advise_huge_pages, NULL, NULL, NULL, napi_enumerable, NULL},
      {"MAX_BATCH", NULL, NULL, NULL, NULL, constant(env, MAX_BATCH), napi_enumerable, NULL},
      {"RECV_WORDS", NULL, NULL, NULL, NULL, constant(env, RECV_WORDS), napi_enumerable, NULL},
      {"SEND_WORDS", NULL, NULL, NULL, NULL, constant(env, SEND_WORDS), napi_enumerable, NULL},
      {"SEND_GSO", NULL, NULL, NULL, NULL, constant(env, SEND_GSO), napi_enumerable, NULL},
      {"ABI", NULL, NULL, NULL, NULL, constant(env, 1), napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

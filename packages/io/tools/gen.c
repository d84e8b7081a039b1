// sluice-gen: the native traffic generator and sink for the forward benchmark and the lab.
//
//   sluice-gen send --to IP:PORT --frames FILE [--from IP] [--sockets 16] [--batch 64]
//                   [--seconds 3] [--rate PPS] [--threads 1]
//   sluice-gen sink --listen IP:PORT [--buffer BYTES]
//
// send: blasts prebuilt datagrams (a frames file: records of a 2-byte big-endian length and the
// bytes; tools/bench writes it with established flows, spoofed SYNs or a mix) with sendmmsg, at
// --rate datagrams per second or as fast as the kernel takes them. Datagram i always leaves from
// socket i % sockets, as a kernel VTEP keeps a flow on one outer source port, so SO_REUSEPORT
// spreads flows over the receiver's sockets and keeps each flow on one of them. Prints
// {"sent":N,"seconds":T,"errors":E} at the end.
//
// sink: counts datagrams arriving at --listen with recvmmsg into 1-byte buffers (MSG_TRUNC
// still reports each length), so counting costs the sink as little as the kernel allows; the
// benchmark runs it beside the director on a two-core machine. Prints {"ready":true,"port":P},
// then {"received":N,"bytes":B} on every SIGUSR1 and once more on SIGTERM/SIGINT.
#include "common.h"

#include <poll.h>
#include <pthread.h>

#define MAX_BATCH 1024

struct frames {
  uint8_t **data;
  uint16_t *len;
  size_t count;
};

static struct frames load_frames(const char *file) {
  FILE *f = fopen(file, "rb");
  if (f == NULL) die(file);
  struct frames fr = {NULL, NULL, 0};
  size_t cap = 0;
  uint8_t hdr[2];
  while (fread(hdr, 1, 2, f) == 2) {
    uint16_t n = (uint16_t)(hdr[0] << 8 | hdr[1]);
    uint8_t *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) die("malloc");
    if (fread(buf, 1, n, f) != n) usage_error("frames file: truncated record");
    if (fr.count == cap) {
      cap = cap ? cap * 2 : 1024;
      fr.data = realloc(fr.data, cap * sizeof *fr.data);
      fr.len = realloc(fr.len, cap * sizeof *fr.len);
      if (fr.data == NULL || fr.len == NULL) die("realloc");
    }
    fr.data[fr.count] = buf;
    fr.len[fr.count] = n;
    fr.count++;
  }
  fclose(f);
  if (fr.count == 0) usage_error("frames file: no frames");
  return fr;
}

struct sender {
  pthread_t id;
  int *fds;        // this thread's sockets
  int nfds;
  int first_sock;  // global index of fds[0]
  int step;        // socket index stride between threads
  int sockets;     // sockets in all
  struct frames *fr;
  struct sockaddr_in to;
  int batch;
  double seconds;
  double rate;  // per thread; 0 = unpaced
  uint64_t sent;
  uint64_t errors;
};

static void *send_loop(void *arg) {
  struct sender *s = arg;
  int b = s->batch;
  struct mmsghdr *msgs = calloc((size_t)b, sizeof *msgs);
  struct iovec *iovs = calloc((size_t)b, sizeof *iovs);
  size_t *cursor = calloc((size_t)s->nfds, sizeof *cursor);
  if (msgs == NULL || iovs == NULL || cursor == NULL) die("calloc");
  for (int k = 0; k < s->nfds; k++) cursor[k] = (size_t)(s->first_sock + k * s->step);
  // A socket whose first datagram index is past the file has nothing to send (few frames).
  int usable = 0;
  for (int k = 0; k < s->nfds; k++)
    if (cursor[k] < s->fr->count) usable++;
  if (usable == 0) usage_error("sluice-gen send: fewer frames than sockets; lower --sockets");
  double start = now_seconds(), end = start + s->seconds;
  int k = 0;
  while (!stop_requested) {
    double now = now_seconds();
    if (now >= end) break;
    if (s->rate > 0) {
      double due = (now - start) * s->rate;
      if ((double)s->sent >= due) {
        struct timespec t = {0, 50000};
        nanosleep(&t, NULL);
        continue;
      }
    }
    // One call per socket in turn: the socket's own datagrams (i ≡ socket mod sockets).
    size_t home = (size_t)(s->first_sock + k * s->step);
    if (home >= s->fr->count) {
      k = (k + 1) % s->nfds;
      continue;
    }
    size_t c = cursor[k];
    for (int i = 0; i < b; i++) {
      iovs[i].iov_base = s->fr->data[c];
      iovs[i].iov_len = s->fr->len[c];
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &s->to;
      msgs[i].msg_hdr.msg_namelen = sizeof s->to;
      c += (size_t)s->sockets;
      if (c >= s->fr->count) c = home;
    }
    cursor[k] = c;
    int r = sendmmsg(s->fds[k], msgs, (unsigned)b, 0);
    if (r > 0) s->sent += (uint64_t)r;
    else if (errno != EINTR) s->errors++;
    k = (k + 1) % s->nfds;
  }
  free(msgs);
  free(iovs);
  free(cursor);
  return NULL;
}

static int run_send(int argc, char **argv) {
  const char *to = NULL, *file = NULL, *from = "0.0.0.0";
  int sockets = 16, batch = 64, threads = 1;
  double seconds = 3, rate = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--to") == 0) to = argv[i + 1];
    else if (strcmp(argv[i], "--frames") == 0) file = argv[i + 1];
    else if (strcmp(argv[i], "--from") == 0) from = argv[i + 1];
    else if (strcmp(argv[i], "--sockets") == 0) sockets = (int)arg_long(argv[i + 1], 1, 1024, "--sockets");
    else if (strcmp(argv[i], "--batch") == 0) batch = (int)arg_long(argv[i + 1], 1, MAX_BATCH, "--batch");
    else if (strcmp(argv[i], "--threads") == 0) threads = (int)arg_long(argv[i + 1], 1, 64, "--threads");
    else if (strcmp(argv[i], "--seconds") == 0) seconds = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--rate") == 0) rate = atof(argv[i + 1]);
    else usage_error("sluice-gen send: unknown option");
  }
  if (to == NULL || file == NULL) usage_error("sluice-gen send: --to and --frames are required");
  if (!(seconds > 0) || rate < 0) usage_error("sluice-gen send: --seconds > 0, --rate >= 0");
  if (threads > sockets) threads = sockets;
  install_stop_handlers();
  struct frames fr = load_frames(file);
  char endpoint[80];
  snprintf(endpoint, sizeof endpoint, "%s:0", from);
  struct sockaddr_in src = parse_endpoint(endpoint);
  int *fds = calloc((size_t)sockets, sizeof *fds);
  if (fds == NULL) die("calloc");
  for (int i = 0; i < sockets; i++) fds[i] = udp_socket(&src, 0, 4 << 20);
  struct sender *ss = calloc((size_t)threads, sizeof *ss);
  if (ss == NULL) die("calloc");
  // Thread t owns sockets t, t + threads, t + 2 * threads, ...
  int **own = calloc((size_t)threads, sizeof *own);
  for (int t = 0; t < threads; t++) {
    own[t] = calloc((size_t)sockets, sizeof **own);
    int n = 0;
    for (int i = t; i < sockets; i += threads) own[t][n++] = fds[i];
    ss[t] = (struct sender){.fds = own[t], .nfds = n, .first_sock = t, .step = threads, .sockets = sockets,
                            .fr = &fr, .to = parse_endpoint(to), .batch = batch, .seconds = seconds,
                            .rate = rate / threads};
  }
  double t0 = now_seconds();
  for (int t = 0; t < threads; t++) pthread_create(&ss[t].id, NULL, send_loop, &ss[t]);
  uint64_t sent = 0, errors = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(ss[t].id, NULL);
    sent += ss[t].sent;
    errors += ss[t].errors;
  }
  printf("{\"sent\":%llu,\"seconds\":%.6f,\"errors\":%llu}\n", (unsigned long long)sent, now_seconds() - t0,
         (unsigned long long)errors);
  return 0;
}

static volatile sig_atomic_t report_requested = 0;
static void on_report(int sig) {
  (void)sig;
  report_requested = 1;
}

static int run_sink(int argc, char **argv) {
  const char *listen = NULL;
  int buffer = 16 << 20;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--listen") == 0) listen = argv[i + 1];
    else if (strcmp(argv[i], "--buffer") == 0) buffer = (int)arg_long(argv[i + 1], 0, 1 << 30, "--buffer");
    else usage_error("sluice-gen sink: unknown option");
  }
  if (listen == NULL) usage_error("sluice-gen sink: --listen is required");
  install_stop_handlers();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_report;
  sigaction(SIGUSR1, &sa, NULL);
  struct sockaddr_in at = parse_endpoint(listen);
  int fd = udp_socket(&at, 0, buffer);
  printf("{\"ready\":true,\"port\":%d}\n", bound_port(fd));
  fflush(stdout);
  static struct mmsghdr msgs[MAX_BATCH];
  static struct iovec iovs[MAX_BATCH];
  static uint8_t scratch[MAX_BATCH];
  for (int i = 0; i < MAX_BATCH; i++) {
    iovs[i].iov_base = &scratch[i];
    iovs[i].iov_len = 1;
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t received = 0, bytes = 0;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (!stop_requested) {
    if (report_requested) {
      report_requested = 0;
      printf("{\"received\":%llu,\"bytes\":%llu}\n", (unsigned long long)received, (unsigned long long)bytes);
      fflush(stdout);
    }
    int n = recvmmsg(fd, msgs, MAX_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (n > 0) {
      received += (uint64_t)n;
      for (int i = 0; i < n; i++) bytes += msgs[i].msg_len;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) die("recvmmsg");
    poll(&p, 1, 100);
  }
  printf("{\"received\":%llu,\"bytes\":%llu}\n", (unsigned long long)received, (unsigned long long)bytes);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "send") == 0) return run_send(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "sink") == 0) return run_sink(argc, argv);
  usage_error("usage: sluice-gen send --to IP:PORT --frames FILE [...] | sluice-gen sink --listen IP:PORT");
  return 2;
}

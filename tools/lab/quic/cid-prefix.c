/*
 * cid-prefix.c: makes ngtcp2's example server (Debian's ngtcp2-server, /usr/sbin/gtlsserver)
 * issue connection IDs that carry a chosen server ID, so a load balancer can route them.
 *
 * The example server draws every connection ID it issues (its first SCID and those of its
 * NEW_CONNECTION_ID frames) from gnutls_rnd(GNUTLS_RND_RANDOM, buf, 18), 18 bytes being its
 * NGTCP2_SV_SCIDLEN, and has no option to shape them. Preloaded, this library answers those
 * calls as GnuTLS does, then writes the prefix over the start of the buffer: the rest stays
 * random, as QUIC-LB asks of a nonce. Every other call (TLS randoms, keys, tokens: other levels
 * or lengths) passes through untouched.
 *
 *   cc -shared -fPIC -O2 cid-prefix.c -o cid-prefix.so -ldl
 *   LD_PRELOAD=./cid-prefix.so SLUICE_CID_PREFIX=310a01 gtlsserver ADDR PORT KEY CERT
 *
 * SLUICE_CID_PREFIX   hex bytes written at the start of each connection ID (at most 18)
 * SLUICE_CID_LENGTH   the connection ID length to recognise (default 18)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define GNUTLS_RND_RANDOM 1
#define MAX_PREFIX 20

typedef int (*rnd_fn)(int level, void *data, size_t len);

static unsigned char prefix[MAX_PREFIX];
static size_t prefix_len;
static size_t cid_len = 18;
static int configured;

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void configure(void) {
  const char *hex = getenv("SLUICE_CID_PREFIX");
  const char *len = getenv("SLUICE_CID_LENGTH");
  configured = 1;
  if (len != NULL && atoi(len) > 0) cid_len = (size_t)atoi(len);
  if (hex == NULL) return;
  size_t n = strlen(hex);
  if (n % 2 != 0 || n / 2 > MAX_PREFIX || n / 2 > cid_len) return;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return;
    prefix[i] = (unsigned char)(hi << 4 | lo);
  }
  prefix_len = n / 2;
}

int gnutls_rnd(int level, void *data, size_t len) {
  static rnd_fn real;
  if (real == NULL) real = (rnd_fn)dlsym(RTLD_NEXT, "gnutls_rnd");
  if (real == NULL) return -1;
  int rv = real(level, data, len);
  if (!configured) configure();
  if (rv == 0 && level == GNUTLS_RND_RANDOM && len == cid_len && prefix_len > 0)
    memcpy(data, prefix, prefix_len);
  return rv;
}

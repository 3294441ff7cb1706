/*
 * Native load client for the C1M bench (loadtest/bench/c1m.ts): up to ~19,000
 * Longlink protocol v1 connections in one process (epoll, ~200 B per
 * connection), for runs where Node clients would need more memory than the
 * servers they test (measured: 6-7 KB per connection with the raw Node
 * driver, 11 KB with ws). It follows the SDK's client rules (sdk/src):
 *
 *  - authenticates with its own HS256 token per attempt (sub, iat, exp; the
 *    token in the subprotocol, as the load tools send it);
 *  - asks for a fixed heartbeat interval (hb=), adopts the one hello and
 *    heartbeat acks give, sends a heartbeat after an interval with no
 *    traffic, and applies the zombie rule (no ack within
 *    min(interval, 60 s): close, reconnect);
 *  - acks pushes cumulatively, batched like the SDK's Delivery (after 100 ms, on a 200 ms sweep,
 *    or 50 pushes), drops duplicates (seq <= last);
 *  - reconnects with resume (session, last_seq): after a drain's reconnect
 *    frame at its delay, after a 503 or 429 at Retry-After plus up to 50 %, else
 *    with full-jitter backoff (1 s base, 60 s cap, reset after 30 s up);
 *    codes the close-code table marks terminal end the client.
 *
 * Control on stdin, one command a line: "start <connects/s>", "halt",
 * "backends <port,port,...>" (reconnects go to a random one of them, as
 * through a balancer), "stop". Output on stdout, one JSON object a line, in
 * the Node workers' Sample format (loadtest/generator/worker.ts), so the
 * bench aggregates both alike: {"type":"ready"}, {"type":"sample",...}
 * every --sample-ms, {"type":"stopped"}.
 *
 * Build: cc -O2 -o c1m-client client.c -lcrypto (the bench does it).
 * Args: --ports P,P.. --first N --count N --sources A,B.. --secret S
 *       --prefix P --hb MS --concurrency N --sample-ms MS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { ST_IDLE, ST_TCP, ST_UPGRADE, ST_OPEN, ST_WAIT, ST_DONE };

typedef struct {
  int fd;
  uint8_t st, hello, attempt, hb_out, ack_n, has_session, closing;
  uint16_t port;
  uint16_t src;
  uint32_t close_code;
  uint32_t hb_ms;
  int64_t last_seq, acked_seq;
  double t_attempt, t_open, t_activity, t_hb_sent, t_ack_due, t_retry, t_drain_at;
  char session[48];
  uint8_t *pend; uint32_t pend_len; /* partial input, only while incomplete */
} conn_t;

/* ---- options and state ---------------------------------------------------------------------- */
static uint16_t ports[256]; static int nports;
static uint16_t backends[256]; static int nbackends;
static struct in_addr srcs[64]; static int nsrcs;
static long first_idx, count; static const char *secret = "", *prefix = "c1m-";
static int hb_req = 270000, concurrency = 64, sample_ms = 5000;
static conn_t *conns; static long created;
static int ep; static int stopping, halted, started;
static double rate, t_start;
static uint8_t rbuf[65536];

static double now_ms(void) { struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts); return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6; }
static double rnd(void) { return (double)random() / ((double)RAND_MAX + 1.0); }

/* ---- stats (deltas per sample, as worker.ts' Counts) -------------------------------------------- */
enum { C_OPENED, C_RECONNECTS, C_RESUMED, C_FAILED, C_UNEXPECTED, C_DROPPED, C_HBSENT, C_HBACKS, C_PUSHES, C_DUPS, C_GAPS, C_ZOMBIES, C_TIMEOUTS, C_N };
static const char *cname[C_N] = { "opened", "reconnects", "resumed", "failed", "unexpectedCloses", "dropped", "hbSent", "hbAcks", "pushes", "duplicates", "gaps", "zombies", "timeouts" };
static long cnt[C_N];
#define NB 2048
typedef struct { uint32_t b[NB]; long n; double max_us, sum_us; } hist_t;
static hist_t h_hb, h_push, h_conn;
static void hrec(hist_t *h, double ms) {
  double us = ms * 1000; long v = us <= 0 ? 0 : (long)us; int i;
  if (v < 128) i = (int)v;
  else { if (v > 0x7fffffff) v = 0x7fffffff; int e = 31 - __builtin_clz((unsigned)v) - 6; i = 128 + (e - 1) * 64 + (int)((v >> e) - 64); if (i > NB - 1) i = NB - 1; }
  h->b[i]++; h->n++; h->sum_us += us; if (us > h->max_us) h->max_us = us;
}
typedef struct { char k[24]; long v; } kv_t;
static kv_t codes[32], statuses[32], errs[32]; static int ncodes, nstatuses, nerrs;
static void bump(kv_t *m, int *n, const char *k) {
  for (int i = 0; i < *n; i++) if (!strcmp(m[i].k, k)) { m[i].v++; return; }
  if (*n < 32) { snprintf(m[*n].k, sizeof m[*n].k, "%s", k); m[*n].v = 1; (*n)++; }
}

/* ---- encoding helpers ------------------------------------------------------------------------ */
static int b64url(const uint8_t *in, int n, char *out) {
  static const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int o = 0, i = 0;
  for (; i + 2 < n; i += 3) { uint32_t v = in[i] << 16 | in[i + 1] << 8 | in[i + 2]; out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63]; out[o++] = t[(v >> 6) & 63]; out[o++] = t[v & 63]; }
  if (n - i == 1) { uint32_t v = in[i] << 16; out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63]; }
  else if (n - i == 2) { uint32_t v = in[i] << 16 | in[i + 1] << 8; out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63]; out[o++] = t[(v >> 6) & 63]; }
  out[o] = 0; return o;
}
static int b64std(const uint8_t *in, int n, char *out) { return EVP_EncodeBlock((unsigned char *)out, in, n); }

static int mint(long idx, char *out) {
  char payload[160], pb[240], sig_in[400]; uint8_t mac[32]; unsigned maclen = 32;
  long t = (long)time(NULL);
  int pl = snprintf(payload, sizeof payload, "{\"sub\":\"%s%ld\",\"iat\":%ld,\"exp\":%ld}", prefix, idx, t, t + 6 * 3600);
  b64url((uint8_t *)payload, pl, pb);
  int sl = snprintf(sig_in, sizeof sig_in, "eyJhbGciOiJIUzI1NiJ9.%s", pb);
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (uint8_t *)sig_in, sl, mac, &maclen);
  char sb[64]; b64url(mac, 32, sb);
  return sprintf(out, "%s.%s", sig_in, sb);
}

static int varint(uint8_t *o, uint64_t v) { int n = 0; do { uint8_t b = v & 0x7f; v >>= 7; o[n++] = b | (v ? 0x80 : 0); } while (v); return n; }
static int rvarint(const uint8_t *p, int n, int *at, uint64_t *v) {
  uint64_t r = 0; int s = 0;
  while (*at < n && s < 56) { uint8_t b = p[(*at)++]; r |= (uint64_t)(b & 0x7f) << s; s += 7; if (!(b & 0x80)) { *v = r; return 1; } }
  return 0;
}

/* A masked client frame around `p` (n < 126: all our frames are tiny). */
static void send_frame(conn_t *c, int op, const uint8_t *p, int n) {
  uint8_t f[140]; uint32_t m = (uint32_t)random();
  f[0] = 0x80 | op; f[1] = 0x80 | n; memcpy(f + 2, &m, 4);
  for (int i = 0; i < n; i++) f[6 + i] = p[i] ^ f[2 + (i & 3)];
  if (write(c->fd, f, 6 + n) < 0 && errno != EAGAIN) { /* the read side sees the error */ }
  c->t_activity = now_ms();
}

/* ---- connection life ------------------------------------------------------------------------- */
static void closefd(conn_t *c) { if (c->fd >= 0) { epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); c->fd = -1; } free(c->pend); c->pend = NULL; c->pend_len = 0; }

static void schedule_retry(conn_t *c, double delay) { c->st = ST_WAIT; c->t_retry = now_ms() + delay; }

static double backoff(conn_t *c) {
  double w = 1000.0 * pow(2, c->attempt); if (w > 60000) w = 60000;
  if (c->attempt < 30) c->attempt++;
  return rnd() * w;
}

/* The connection ended: count it and decide, as the SDK's decide() does. */
static void ended(conn_t *c, int was_open, int code, int status, double retry_after_ms, const char *err) {
  double now = now_ms();
  int drain = c->t_drain_at > 0;
  double drain_delay = c->t_drain_at - now;
  closefd(c);
  c->hello = 0; c->hb_out = 0; c->ack_n = 0; c->t_ack_due = 0; c->t_drain_at = 0; c->closing = 0;
  if (stopping) { c->st = ST_DONE; return; }
  if (was_open) {
    cnt[C_UNEXPECTED]++;
    char k[16]; snprintf(k, sizeof k, "%d", code); bump(codes, &ncodes, k);
    if (code == 4006) cnt[C_TIMEOUTS]++;
    if (now - c->t_open >= 30000) c->attempt = 0;
    if (code == 1000 || code == 1009 || code == 4001 || code == 4003 || code == 4004 || code == 4005 || code == 4008 || code == 4010 || code == 4011) { c->st = ST_DONE; return; }
    if (drain) { schedule_retry(c, drain_delay > 0 ? drain_delay : 0); return; }
    schedule_retry(c, backoff(c));
  } else {
    cnt[C_FAILED]++;
    if (status) { char k[8]; snprintf(k, sizeof k, "%d", status); bump(statuses, &nstatuses, k); }
    else bump(errs, &nerrs, err ? err : "closed before open");
    if (status == 400 || status == 404 || status == 426) { c->st = ST_DONE; return; }
    if ((status == 503 || status == 429) && retry_after_ms >= 0) { c->attempt < 30 ? c->attempt++ : 0; schedule_retry(c, retry_after_ms * (1 + 0.5 * rnd())); return; }
    schedule_retry(c, backoff(c));
  }
}

static void start_attempt(conn_t *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { ended(c, 0, 0, 0, -1, errno == EMFILE ? "EMFILE" : errno == ENFILE ? "ENFILE" : "socket"); return; }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = srcs[c->src] };
  c->fd = fd; c->st = ST_TCP; c->t_attempt = now_ms();
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { ended(c, 0, 0, 0, -1, "bind"); return; }
  uint16_t port = nbackends ? backends[random() % nbackends] : c->port;
  struct sockaddr_in da = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, "127.0.0.1", &da.sin_addr);
  struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  if (connect(fd, (struct sockaddr *)&da, sizeof da) < 0 && errno != EINPROGRESS) {
    ended(c, 0, 0, 0, -1, errno == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : errno == ECONNREFUSED ? "ECONNREFUSED" : "connect");
    return;
  }
  c->port = port;
}

static void send_upgrade(conn_t *c) {
  char tok[512], key[32], req[1100]; uint8_t kb[16];
  for (int i = 0; i < 16; i++) kb[i] = (uint8_t)random();
  b64std(kb, 16, key);
  mint(first_idx + (c - conns), tok);
  char q[160];
  if (c->has_session) snprintf(q, sizeof q, "hb=%d&session=%s&last_seq=%lld", hb_req, c->session, (long long)c->last_seq);
  else snprintf(q, sizeof q, "hb=%d", hb_req);
  int n = snprintf(req, sizeof req, "GET /ws?%s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: longlink.v1, longlink.token.%s\r\n\r\n", q, c->port, key, tok);
  /* The accept we expect, kept in pend until the response arrives. */
  char acc_in[64]; uint8_t sha[20]; char acc[32];
  int al = snprintf(acc_in, sizeof acc_in, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
  SHA1((uint8_t *)acc_in, al, sha); b64std(sha, 20, acc);
  c->pend = malloc(32); memcpy(c->pend, acc, 29); c->pend_len = 0; /* pend holds the expected accept while upgrading */
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  if (write(c->fd, req, n) != n) { ended(c, 0, 0, 0, -1, "write"); return; }
  c->st = ST_UPGRADE;
}

/* ---- tiny JSON field readers (the server's frames are flat enough) ---------------------------- */
static const char *field(const char *j, int n, const char *name) {
  char pat[40]; int pl = snprintf(pat, sizeof pat, "\"%s\":", name);
  const char *p = memmem(j, n, pat, pl);
  return p ? p + pl : NULL;
}
static double num(const char *j, int n, const char *name, double def) { const char *p = field(j, n, name); return p ? strtod(p, NULL) : def; }

static void on_text(conn_t *c, const char *j, int n) {
  double now = now_ms();
  if (n > 12 && !memcmp(j, "{\"op\":\"push\"", 12)) {
    int64_t seq = (int64_t)num(j, n, "seq", 0);
    if (seq <= c->last_seq) { cnt[C_DUPS]++; return; }
    if (c->last_seq > 0) cnt[C_GAPS] += seq - c->last_seq - 1;
    c->last_seq = seq; cnt[C_PUSHES]++;
    const char *d = field(j, n, "data");
    double t = -1;
    if (d) { const char *tp = field(d, n - (int)(d - j), "t"); if (tp) t = strtod(tp, NULL); }
    if (t < 0) t = num(j, n, "ts", now);
    hrec(&h_push, now - t);
    if (++c->ack_n >= 50) c->t_ack_due = now; else if (c->t_ack_due == 0) c->t_ack_due = now + 100;
    return;
  }
  if (n > 13 && !memcmp(j, "{\"op\":\"hello\"", 13)) {
    const char *s = field(j, n, "session");
    if (s && *s == '"') { const char *e = memchr(s + 1, '"', n - (s + 1 - j)); if (e && e - s - 1 < (long)sizeof c->session) { memcpy(c->session, s + 1, e - s - 1); c->session[e - s - 1] = 0; } }
    const char *hb = field(j, n, "hb");
    if (hb) { double iv = num(hb, n - (int)(hb - j), "intervalMs", hb_req); c->hb_ms = (uint32_t)iv; }
    int resumed = memmem(j, n, "\"resumed\":true", 14) != NULL;
    int64_t seq = (int64_t)num(j, n, "seq", 0);
    if (!resumed && seq < c->last_seq) c->last_seq = 0; /* the server's store was reset (the SDK's rebase) */
    cnt[C_OPENED]++;
    if (c->has_session) { cnt[C_RECONNECTS]++; if (resumed) cnt[C_RESUMED]++; }
    c->has_session = 1; c->hello = 1; c->t_open = now; c->t_activity = now;
    hrec(&h_conn, now - c->t_attempt);
    return;
  }
  if (n > 17 && !memcmp(j, "{\"op\":\"reconnect\"", 17)) { c->t_drain_at = now + num(j, n, "delayMs", 0); return; }
}

static void on_binary(conn_t *c, const uint8_t *p, int n) {
  if (n < 1 || p[0] != 0x02) return;
  cnt[C_HBACKS]++;
  if (c->hb_out) { hrec(&h_hb, now_ms() - c->t_hb_sent); c->hb_out = 0; }
  if (n >= 2) {
    int at = 2; uint64_t v; uint8_t fl = p[1];
    if (fl & 1) rvarint(p, n, &at, &v);
    if ((fl & 2) && rvarint(p, n, &at, &v)) c->hb_ms = (uint32_t)v;
  }
}

/* Parses what arrived; returns 0 when the connection ended. */
static int on_bytes(conn_t *c, uint8_t *data, int len) {
  uint8_t *buf = data; int n = len; uint8_t *own = NULL;
  if (c->st == ST_UPGRADE) {
    /* pend: 32 bytes of expected accept, then the partial response. */
    if (c->pend_len) { own = malloc(c->pend_len + len); memcpy(own, c->pend + 32, c->pend_len); memcpy(own + c->pend_len, data, len); buf = own; n = c->pend_len + len; }
    uint8_t *eoh = memmem(buf, n, "\r\n\r\n", 4);
    if (!eoh) { uint8_t *p = realloc(c->pend, 32 + n); memcpy(p + 32, buf, n); c->pend = p; c->pend_len = n; free(own); return 1; }
    int status = (n > 12 && !memcmp(buf, "HTTP/1.1 ", 9)) ? atoi((char *)buf + 9) : 0;
    if (status != 101) {
      double ra = -1; uint8_t *r = memmem(buf, eoh - buf, "\r\nRetry-After: ", 15);
      if (!r) r = memmem(buf, eoh - buf, "\r\nretry-after: ", 15);
      if (r) ra = atof((char *)r + 15) * 1000;
      free(own); ended(c, 0, 0, status, ra, NULL); return 0;
    }
    uint8_t *a = memmem(buf, eoh - buf, "ec-WebSocket-Accept: ", 21);
    if (!a) a = memmem(buf, eoh - buf, "ec-websocket-accept: ", 21);
    if (!a || memcmp(a + 21, c->pend, 28)) { free(own); ended(c, 0, 0, 0, -1, "bad accept"); return 0; }
    free(c->pend); c->pend = NULL; c->pend_len = 0;
    c->st = ST_OPEN; c->t_open = now_ms(); c->close_code = 0;
    int hl = (int)(eoh + 4 - buf); buf += hl; n -= hl;
    if (own) { /* keep `own` alive for the frames below */ }
  } else if (c->pend_len) {
    own = malloc(c->pend_len + len); memcpy(own, c->pend, c->pend_len); memcpy(own + c->pend_len, data, len);
    free(c->pend); c->pend = NULL; buf = own; n = c->pend_len + len; c->pend_len = 0;
  }
  int at = 0;
  while (n - at >= 2) {
    uint8_t b0 = buf[at], b1 = buf[at + 1]; uint64_t pl = b1 & 0x7f; int h = 2;
    if (pl == 126) { if (n - at < 4) break; pl = buf[at + 2] << 8 | buf[at + 3]; h = 4; }
    else if (pl == 127) { if (n - at < 10) break; pl = 0; for (int i = 0; i < 8; i++) pl = pl << 8 | buf[at + 2 + i]; h = 10; }
    if ((uint64_t)(n - at - h) < pl) break;
    uint8_t *p = buf + at + h; int op = b0 & 0x0f;
    at += h + (int)pl;
    c->t_activity = now_ms();
    if (op == 1) on_text(c, (char *)p, (int)pl);
    else if (op == 2) on_binary(c, p, (int)pl);
    else if (op == 9) send_frame(c, 0xa, p, pl < 125 ? (int)pl : 0);
    else if (op == 8) {
      c->close_code = pl >= 2 ? (uint32_t)(p[0] << 8 | p[1]) : 1005;
      if (!c->closing) { uint8_t cc[2] = { p[0], p[1] }; send_frame(c, 8, cc, pl >= 2 ? 2 : 0); c->closing = 1; }
      shutdown(c->fd, SHUT_WR);
    }
  }
  if (at < n) { c->pend = malloc(n - at); memcpy(c->pend, buf + at, n - at); c->pend_len = n - at; }
  free(own);
  return 1;
}

static void on_event(conn_t *c, uint32_t evs) {
  if (c->st == ST_TCP) {
    int err = 0; socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) { ended(c, 0, 0, 0, -1, err == ECONNREFUSED ? "ECONNREFUSED" : err == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : err == ETIMEDOUT ? "ETIMEDOUT" : "connect"); return; }
    if (evs & EPOLLOUT) send_upgrade(c);
    return;
  }
  for (;;) {
    ssize_t r = read(c->fd, rbuf, sizeof rbuf);
    if (r > 0) { if (!on_bytes(c, rbuf, (int)r)) return; if (r < (ssize_t)sizeof rbuf) return; continue; }
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    /* EOF or error */
    int was_open = c->st == ST_OPEN;
    ended(c, was_open, was_open ? (c->close_code ? (int)c->close_code : 1006) : 0, 0, -1, r == 0 ? "closed before open" : "ECONNRESET");
    return;
  }
}

/* ---- timers: one sweep over all connections ---------------------------------------------------- */
static void sweep(double now) {
  for (long i = 0; i < created; i++) {
    conn_t *c = &conns[i];
    if (c->st == ST_WAIT) { if (now >= c->t_retry && !stopping) start_attempt(c); continue; }
    if (c->st == ST_TCP || c->st == ST_UPGRADE) {
      if (now - c->t_attempt > 10000) ended(c, 0, 0, 0, -1, "handshake timeout");
      continue;
    }
    if (c->st != ST_OPEN || !c->hello) continue;
    if (c->t_ack_due > 0 && now >= c->t_ack_due && c->last_seq > c->acked_seq) {
      uint8_t f[10]; f[0] = 3; int l = 1 + varint(f + 1, (uint64_t)c->last_seq);
      send_frame(c, 2, f, l); c->acked_seq = c->last_seq; c->ack_n = 0; c->t_ack_due = 0;
    }
    double zombie_ms = c->hb_ms < 60000 ? c->hb_ms : 60000;
    if (c->hb_out && now - c->t_hb_sent > zombie_ms) {
      cnt[C_ZOMBIES]++; c->close_code = 0; ended(c, 1, 1006, 0, -1, NULL); continue;
    }
    if (!c->hb_out && now - c->t_activity >= c->hb_ms) {
      uint8_t f[1] = { 1 }; send_frame(c, 2, f, 1); c->hb_out = 1; c->t_hb_sent = now; cnt[C_HBSENT]++;
    }
  }
}

static void ramp(double now) {
  if (!started || halted || stopping) return;
  long due = (long)((now - t_start) / 1000.0 * rate) + 1; if (due > count) due = count;
  long inflight = 0;
  long from = created - 4L * concurrency; if (from < 0) from = 0;
  for (long i = from; i < created; i++) if (conns[i].st == ST_TCP || conns[i].st == ST_UPGRADE || (conns[i].st == ST_OPEN && !conns[i].hello)) inflight++;
  while (created < due && inflight < concurrency) { start_attempt(&conns[created++]); inflight++; }
}

/* ---- reporting ----------------------------------------------------------------------------------- */
static void put_hist(FILE *o, const char *name, hist_t *h) {
  fprintf(o, ",\"%s\":{\"b\":[", name); int f = 1;
  for (int i = 0; i < NB; i++) if (h->b[i]) { fprintf(o, "%s[%d,%u]", f ? "" : ",", i, h->b[i]); f = 0; }
  fprintf(o, "],\"n\":%ld,\"maxUs\":%.0f,\"sumUs\":%.0f}", h->n, h->max_us, h->sum_us);
  memset(h, 0, sizeof *h);
}
static void put_map(FILE *o, const char *name, kv_t *m, int *n) {
  fprintf(o, ",\"%s\":{", name);
  for (int i = 0; i < *n; i++) fprintf(o, "%s\"%s\":%ld", i ? "," : "", m[i].k, m[i].v);
  fprintf(o, "}"); *n = 0;
}
static void sample(double lag) {
  long open = 0, connecting = 0, waiting = 0;
  for (long i = 0; i < created; i++) {
    conn_t *c = &conns[i];
    if (c->st == ST_OPEN && c->hello) open++; else if (c->st == ST_TCP || c->st == ST_UPGRADE || c->st == ST_OPEN) connecting++; else if (c->st == ST_WAIT) waiting++;
  }
  long rss = 0; FILE *f = fopen("/proc/self/statm", "r"); if (f) { long a; if (fscanf(f, "%ld %ld", &a, &rss) != 2) rss = 0; fclose(f); }
  fprintf(stdout, "{\"type\":\"sample\",\"t\":%.0f,\"open\":%ld,\"connecting\":%ld,\"waiting\":%ld,\"attempted\":%ld,\"d\":{", now_ms(), open, connecting, waiting, created);
  for (int i = 0; i < C_N; i++) fprintf(stdout, "%s\"%s\":%ld", i ? "," : "", cname[i], cnt[i]);
  fprintf(stdout, "}");
  memset(cnt, 0, sizeof cnt);
  put_map(stdout, "codes", codes, &ncodes); put_map(stdout, "statuses", statuses, &nstatuses); put_map(stdout, "errors", errs, &nerrs);
  put_hist(stdout, "hb", &h_hb); put_hist(stdout, "push", &h_push); put_hist(stdout, "connect", &h_conn);
  fprintf(stdout, ",\"reconnect\":{\"b\":[],\"n\":0,\"maxUs\":0,\"sumUs\":0},\"lagMaxMs\":%.0f,\"rss\":%ld}\n", lag, rss * sysconf(_SC_PAGESIZE));
  fflush(stdout);
}

static int parse_ports(const char *s, uint16_t *out) { int n = 0; while (*s && n < 256) { out[n++] = (uint16_t)atoi(s); s = strchr(s, ','); if (!s) break; s++; } return n; }

static void command(char *line) {
  if (!strncmp(line, "start ", 6)) { rate = atof(line + 6); t_start = now_ms(); started = 1; }
  else if (!strcmp(line, "halt")) halted = 1;
  else if (!strncmp(line, "backends ", 9)) nbackends = parse_ports(line + 9, backends);
  else if (!strcmp(line, "stop")) {
    stopping = 1; sample(0);
    for (long i = 0; i < created; i++) closefd(&conns[i]);
    fprintf(stdout, "{\"type\":\"stopped\"}\n"); fflush(stdout); exit(0);
  }
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--ports")) nports = parse_ports(v, ports);
    else if (!strcmp(k, "--first")) first_idx = atol(v);
    else if (!strcmp(k, "--count")) count = atol(v);
    else if (!strcmp(k, "--secret")) secret = v;
    else if (!strcmp(k, "--prefix")) prefix = v;
    else if (!strcmp(k, "--hb")) hb_req = atoi(v);
    else if (!strcmp(k, "--concurrency")) concurrency = atoi(v);
    else if (!strcmp(k, "--sample-ms")) sample_ms = atoi(v);
    else if (!strcmp(k, "--sources")) { char *s = strdup(v); for (char *t = strtok(s, ","); t && nsrcs < 64; t = strtok(NULL, ",")) inet_pton(AF_INET, t, &srcs[nsrcs++]); }
    else { fprintf(stderr, "c1m-client: unknown option %s\n", k); return 2; }
  }
  if (!nports || !count || !nsrcs) { fprintf(stderr, "c1m-client: --ports, --count and --sources are required\n"); return 2; }
  srandom((unsigned)(getpid() ^ (long)now_ms()));
  conns = calloc(count, sizeof(conn_t));
  for (long i = 0; i < count; i++) { conns[i].fd = -1; conns[i].port = ports[(first_idx + i) % nports]; conns[i].src = (uint16_t)(i % nsrcs); conns[i].hb_ms = hb_req; }
  ep = epoll_create1(EPOLL_CLOEXEC);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event sev = { .events = EPOLLIN, .data.ptr = NULL };
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);
  fprintf(stdout, "{\"type\":\"ready\"}\n"); fflush(stdout);
  char line[4096]; int ll = 0;
  double next_sample = now_ms() + sample_ms, next_sweep = now_ms(), lag = 0;
  struct epoll_event evs[512];
  for (;;) {
    double now = now_ms();
    int timeout = (int)(next_sweep - now); if (timeout < 0) timeout = 0; if (timeout > 20) timeout = 20;
    int n = epoll_wait(ep, evs, 512, timeout);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) {
        char b[1024]; ssize_t r = read(0, b, sizeof b);
        if (r == 0) { command("stop"); }
        for (ssize_t k = 0; k < r; k++) { if (b[k] == '\n') { line[ll] = 0; command(line); ll = 0; } else if (ll < (int)sizeof line - 1) line[ll++] = b[k]; }
        continue;
      }
      conn_t *c = evs[i].data.ptr;
      if (c->fd >= 0) on_event(c, evs[i].events);
    }
    now = now_ms();
    ramp(now);
    if (now >= next_sweep) { double late = now - next_sweep; if (late > lag) lag = late; sweep(now); next_sweep = now + 200; }
    if (now >= next_sample) { double late = now - next_sample; if (late > lag) lag = late; sample(lag); lag = 0; next_sample += sample_ms; if (next_sample < now) next_sample = now + sample_ms; }
  }
}

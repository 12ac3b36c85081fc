/*
 * http.c — an HTTP/1.1 server that answers every request with
 * "Hello, World!\n": Go's net/http hello server, in C, one goroutine per
 * connection.  The goroutine reads, answers every complete request it
 * has (pipelined requests in one read included) into one output buffer,
 * writes that buffer with one call, and reads again; the netpoller parks
 * it while its client is quiet.
 *
 *   cc -Iinclude examples/http.c build/libgort.a -pthread -o http
 *   ./http [port]                  (default 8080; 0 picks a free port)
 *   wrk -t2 -c50 -d5s http://127.0.0.1:8080/     (make test-http does this)
 *
 * What it speaks: HTTP/1.1 keep-alive and "Connection: close"; HTTP/1.0
 * closes after the response unless the client sent "Connection:
 * keep-alive"; HEAD; request bodies with Content-Length are read and
 * dropped.  Anything that is not a request gets 400 and the connection
 * is closed (431 for a head past 8 KiB, 501 for a chunked body), as
 * Go's server does.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gort.h>

static const char hello[] = "Hello, World!\n";

enum {
    INBUF = 8192,       /* the largest request head accepted */
    OUTBUF = 16384,
    MAXREPLY = 512,     /* room one reply's head and body take, at most */
};

typedef struct conn {
    int fd;
    size_t inlen, outlen;
    int64_t skip;       /* body bytes of the last request still to drop */
    time_t date_sec;    /* when date was formatted */
    char date[40];
    char in[INBUF];
    char out[OUTBUF];
} conn;

typedef struct request {
    bool http10;
    bool head;          /* HEAD: the reply has no body */
    bool close;         /* close the connection after the reply */
    bool keepalive;     /* an HTTP/1.0 client asked to keep it open */
    int64_t body;       /* Content-Length */
} request;

/* Is v[0..n) the word w, in any case? */
static bool is(const char *v, size_t n, const char *w)
{
    return n == strlen(w) && strncasecmp(v, w, n) == 0;
}

/* "GET /path HTTP/1.1", p[0..n) without its CRLF. */
static bool request_line(const char *p, size_t n, request *r)
{
    const char *sp1 = memchr(p, ' ', n);
    if (sp1 == NULL || sp1 == p)
        return false;
    for (const char *q = p; q < sp1; q++)
        if (*q < 'A' || *q > 'Z')
            return false;
    const char *target = sp1 + 1, *end = p + n;
    const char *sp2 = memchr(target, ' ', (size_t)(end - target));
    if (sp2 == NULL || sp2 == target)
        return false;
    for (const char *q = target; q < sp2; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f)
            return false;
    const char *v = sp2 + 1;
    if (end - v != 8 || memcmp(v, "HTTP/1.", 7) != 0 ||
        (v[7] != '0' && v[7] != '1'))
        return false;
    *r = (request){.http10 = v[7] == '0', .close = v[7] == '0',
                   .head = sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0};
    return true;
}

/* One "Name: value" line, p[0..n) without its CRLF. */
static bool header(const char *p, size_t n, request *r)
{
    const char *colon = memchr(p, ':', n);
    if (colon == NULL || colon == p || memchr(p, '\n', n) != NULL)
        return false;
    size_t nl = (size_t)(colon - p);
    for (size_t i = 0; i < nl; i++)
        if ((unsigned char)p[i] <= ' ')     /* also rejects line folding */
            return false;
    const char *v = colon + 1, *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    if (is(p, nl, "connection")) {
        if (is(v, vl, "close"))
            r->close = true;
        else if (r->http10 && is(v, vl, "keep-alive"))
            r->close = false, r->keepalive = true;
    } else if (is(p, nl, "content-length")) {
        int64_t len = 0;
        size_t i = 0;
        for (; i < vl && v[i] >= '0' && v[i] <= '9'; i++) {
            if (len > INT64_MAX / 10 - 1)
                return false;
            len = len * 10 + (v[i] - '0');
        }
        if (i == 0 || i != vl)
            return false;
        r->body = len;
    } else if (is(p, nl, "transfer-encoding")) {
        r->body = -1;
    }
    return true;
}

/* Parses the request head at p[0..n).  Returns its length; 0 while it is
 * incomplete; or minus the status to refuse it with. */
static int parse(const char *p, size_t n, request *r)
{
    const char *eol = memchr(p, '\n', n);
    if (eol == NULL)
        return 0;
    if (eol == p || eol[-1] != '\r')
        return -400;                /* a bare LF: not from an HTTP client */
    if (!request_line(p, (size_t)(--eol - p), r))
        return -400;
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    for (const char *q = eol + 2; q < end + 2; q = eol + 2) {
        eol = memmem(q, (size_t)(end + 2 - q), "\r\n", 2);
        if (!header(q, (size_t)(eol - q), r))
            return -400;
    }
    if (r->body < 0)
        return -501;            /* chunked request bodies: not here */
    return (int)(end + 4 - p);
}

/* The Date header's value, formatted at most once a second. */
static const char *date(conn *c)
{
    time_t now = time(NULL);
    if (now != c->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(c->date, sizeof c->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        c->date_sec = now;
    }
    return c->date;
}

static void reply(conn *c, int status, const request *r)
{
    const char *reason = status == 200 ? "OK"
                       : status == 400 ? "Bad Request"
                       : status == 431 ? "Request Header Fields Too Large"
                                       : "Not Implemented";
    char errbody[64];
    const char *body = hello;
    if (status != 200) {
        snprintf(errbody, sizeof errbody, "%d %s\n", status, reason);
        body = errbody;
    }
    size_t blen = strlen(body);
    c->outlen += (size_t)snprintf(
        c->out + c->outlen, MAXREPLY,
        "HTTP/1.%c %d %s\r\n"
        "Date: %s\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: %zu\r\n"
        "%s"
        "\r\n"
        "%s",
        r->http10 ? '0' : '1', status, reason, date(c), blen,
        r->close ? "Connection: close\r\n"
                 : r->keepalive ? "Connection: keep-alive\r\n" : "",
        r->head ? "" : body);
}

static bool flush(conn *c)
{
    if (c->outlen == 0)
        return true;
    ssize_t n = gort_write(c->fd, c->out, c->outlen);
    bool ok = n == (ssize_t)c->outlen;
    c->outlen = 0;
    return ok;
}

/* Answers every complete request in c->in.  Returns false once the
 * connection is to close (after what was answered is written). */
static bool answer(conn *c)
{
    size_t off = 0;
    bool keep = true;
    while (keep) {
        if (c->skip > 0) {              /* drop the body of the last one */
            size_t k = c->inlen - off;
            if ((int64_t)k > c->skip)
                k = (size_t)c->skip;
            off += k;
            c->skip -= (int64_t)k;
            if (c->skip > 0)
                break;
        }
        if (c->outlen > OUTBUF - MAXREPLY && !flush(c))
            return false;
        request r = {0};
        int h = parse(c->in + off, c->inlen - off, &r);
        if (h == 0 && off == 0 && c->inlen == INBUF)
            h = -431;
        if (h == 0)
            break;                      /* the rest is still on its way */
        if (h < 0) {
            r.close = true;
            r.head = false;
            reply(c, -h, &r);
            return false;
        }
        off += (size_t)h;
        c->skip = r.body;
        reply(c, 200, &r);
        keep = !r.close;
    }
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
    return keep;
}

/* The server ends the conversation: shut our side, then take in what the
 * client still sends for up to 500 ms before the descriptor goes.
 * Closing with unread input would send a reset, which may destroy the
 * last reply on its way (Go's closeWriteAndWait). */
static void hang_up(conn *c)
{
    shutdown(c->fd, SHUT_WR);
    gort_set_deadline(c->fd, gort_nanotime() + 500 * GORT_MS, GORT_READ);
    while (gort_read(c->fd, c->in, INBUF) > 0)
        ;
}

static void close_conn(void *arg)
{
    conn *c = arg;
    gort_close(c->fd);
}

static void serve(void *arg)
{
    conn *c = arg;
    gort_scope {
        gort_defer(free, c);
        gort_defer(close_conn, c);      /* runs first: defers run LIFO */
        for (;;) {
            ssize_t n = gort_read(c->fd, c->in + c->inlen, INBUF - c->inlen);
            if (n <= 0)                 /* end of stream, reset, closed */
                break;
            c->inlen += (size_t)n;
            bool keep = answer(c);
            if (!flush(c))
                break;
            if (!keep) {
                hang_up(c);
                break;
            }
        }
    }
}

/* The port a listener got (the one asked for, or the free one for 0). */
static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void main_goroutine(void *arg)
{
    char addr[64];
    snprintf(addr, sizeof addr, ":%s", (const char *)arg);
    int lfd = gort_tcp_listen(addr, 0);
    if (lfd < 0) {
        fprintf(stderr, "http: listen %s: %s\n", addr, strerror(errno));
        exit(1);
    }
    printf("http: listening on :%d (%d Ps)\n", local_port(lfd),
           gort_maxprocs(0));
    fflush(stdout);
    int64_t delay = 0;
    for (;;) {
        int fd = gort_accept(lfd, NULL, NULL);
        if (fd < 0) {
            /* Out of descriptors or memory: wait and retry, as Go's
             * net/http does (5 ms, doubling up to 1 s). */
            if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS &&
                errno != ENOMEM) {
                fprintf(stderr, "http: accept: %s\n", strerror(errno));
                exit(1);
            }
            delay = delay == 0 ? 5 * GORT_MS : delay * 2;
            if (delay > GORT_SEC)
                delay = GORT_SEC;
            fprintf(stderr, "http: accept: %s; retrying in %lld ms\n",
                    strerror(errno), (long long)(delay / GORT_MS));
            gort_sleep(delay);
            continue;
        }
        delay = 0;
        conn *c = calloc(1, sizeof *c);
        if (c != NULL)
            c->fd = fd;
        if (c == NULL || gort_go(serve, c) < 0) {
            fprintf(stderr, "http: no memory for a connection\n");
            free(c);
            gort_close(fd);
        }
    }
}

int main(int argc, char **argv)
{
    char *port = argc > 1 ? argv[1] : "8080";
    if (gort_run(main_goroutine, port) != 0) {
        perror("gort_run");
        return 1;
    }
    return 0;
}

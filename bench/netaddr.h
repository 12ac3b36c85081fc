/*
 * netaddr.h — "host:port" parsing for the network programs in bench/
 * (echoload, epoll_echo), which use plain sockets and not gort.
 *
 * Accepted forms: "8080" or ":8080" (a server: every address, IPv6 and
 * IPv4; a client: 127.0.0.1), "127.0.0.1:8080", "localhost:8080",
 * "[::1]:8080".  Everything here is static: each program is its own.
 */
#ifndef GORT_BENCH_NETADDR_H
#define GORT_BENCH_NETADDR_H

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Splits addr into host (empty when absent) and port.  0, or -1 when addr
 * is malformed (message on stderr, prefixed with prog). */
static inline int netaddr_split(const char *prog, const char *addr,
                                char *host, size_t hostlen, char *port,
                                size_t portlen)
{
    const char *p, *colon;
    size_t hl;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            goto bad;
        p = addr + 1;
        hl = (size_t)(close - p);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL) {            /* a bare port */
            p = addr;
            hl = 0;
            colon = addr - 1;
        } else {
            if (memchr(addr, ':', (size_t)(colon - addr)) != NULL)
                goto bad;               /* IPv6 without brackets */
            p = addr;
            hl = (size_t)(colon - addr);
        }
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen || colon[1] == '\0')
        goto bad;
    memcpy(host, p, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    for (const char *d = port; *d; d++)
        if (*d < '0' || *d > '9')
            goto bad;
    return 0;
bad:
    fprintf(stderr, "%s: bad address '%s' (want host:port, [v6]:port or port)\n",
            prog, addr);
    return -1;
}

/* getaddrinfo for addr; passive for a server.  NULL on failure (message
 * on stderr).  An empty host is 127.0.0.1 for a client; for a server, the
 * caller binds "::" (dual-stack) itself when *any is set on return. */
static inline struct addrinfo *netaddr_resolve(const char *prog,
                                               const char *addr, int passive,
                                               int *any)
{
    char host[256], port[16];
    struct addrinfo hints, *res = NULL;
    int rc;

    if (netaddr_split(prog, addr, host, sizeof host, port, sizeof port) < 0)
        return NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (any != NULL)
        *any = 0;
    if (host[0] == '\0') {
        if (passive) {
            if (any != NULL)
                *any = 1;
            hints.ai_family = AF_INET6;
            rc = getaddrinfo(NULL, port, &hints, &res);
            if (rc == 0)
                return res;
            hints.ai_family = AF_INET;
            rc = getaddrinfo(NULL, port, &hints, &res);
        } else {
            rc = getaddrinfo("127.0.0.1", port, &hints, &res);
        }
    } else {
        rc = getaddrinfo(host, port, &hints, &res);
    }
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, addr, gai_strerror(rc));
        return NULL;
    }
    return res;
}

#endif /* GORT_BENCH_NETADDR_H */

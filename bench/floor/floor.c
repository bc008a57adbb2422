/*
 * floor: the C floor of `reactor bench`, the least a server on one epoll loop can do.
 *
 *   floor http HOST PORT   counts the "\r\n\r\n" that end request heads and answers each with a
 *                          fixed 200 /plaintext response (its Date refreshed once a second);
 *                          it parses nothing else, so it is a floor, not an HTTP server
 *   floor echo HOST PORT   writes every byte it reads back
 *
 * One thread, level-triggered epoll, non-blocking sockets, TCP_NODELAY. What a write leaves
 * unsent is kept and the connection stops reading until it has gone, so a peer that does not
 * read holds at most one read's worth of answers. Stops on SIGINT or SIGTERM (the default
 * action). The bench compiles it with the system's cc when a run asks for it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE 65536
#define MAX_EVENTS 256

struct conn {
	int fd;
	int http;
	int matched;    /* how much of "\r\n\r\n" the last read ended with */
	char *pending;  /* bytes a write left unsent */
	size_t plen, pcap;
};

static const char head[] = "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: text/plain\r\n"
                           "Content-Length: 13\r\nDate: ";
static char response[256];
static size_t response_len;
static time_t response_at = -1;

/* refresh rewrites the response's Date when the second has changed. */
static void refresh(void) {
	time_t now = time(NULL);
	if (now == response_at)
		return;
	response_at = now;
	struct tm tm;
	gmtime_r(&now, &tm);
	char date[64];
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	response_len = (size_t)snprintf(response, sizeof response, "%s%s\r\n\r\nHello, World!", head, date);
}

static void drop(int ep, struct conn *c) {
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->pending);
	free(c);
}

/* keep appends what a write left unsent. */
static int keep(struct conn *c, const char *p, size_t n) {
	if (c->plen + n > c->pcap) {
		size_t cap = c->pcap ? c->pcap : 4096;
		while (cap < c->plen + n)
			cap *= 2;
		char *q = realloc(c->pending, cap);
		if (!q)
			return -1;
		c->pending = q;
		c->pcap = cap;
	}
	memcpy(c->pending + c->plen, p, n);
	c->plen += n;
	return 0;
}

/* send writes p, or keeps what the socket does not take; -1 when the connection failed. */
static int send_all(struct conn *c, const char *p, size_t n) {
	if (c->plen > 0)
		return keep(c, p, n);
	while (n > 0) {
		ssize_t w = write(c->fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return keep(c, p, n);
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* flush writes what was pending; 1 when all has gone, 0 when some is left, -1 on failure. */
static int flush(struct conn *c) {
	size_t off = 0;
	while (off < c->plen) {
		ssize_t w = write(c->fd, c->pending + off, c->plen - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		off += (size_t)w;
	}
	memmove(c->pending, c->pending + off, c->plen - off);
	c->plen -= off;
	return c->plen == 0;
}

static void watch(int ep, struct conn *c, int op) {
	struct epoll_event ev = {.events = c->plen > 0 ? EPOLLOUT : EPOLLIN, .data.ptr = c};
	epoll_ctl(ep, op, c->fd, &ev);
}

/* on_read reads once and answers; -1 when the connection is done. */
static int on_read(int ep, struct conn *c, char *buf) {
	ssize_t n = read(c->fd, buf, READ_SIZE);
	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (!c->http) {
		if (send_all(c, buf, (size_t)n) < 0)
			return -1;
	} else {
		static const char end[] = "\r\n\r\n";
		int count = 0, m = c->matched;
		for (ssize_t i = 0; i < n; i++) {
			char b = buf[i];
			if (b == end[m]) {
				if (++m == 4) {
					count++;
					m = 0;
				}
			} else {
				m = b == '\r' ? 1 : 0;
			}
		}
		c->matched = m;
		if (count > 0) {
			refresh();
			/* Gather the answers in buf (read is done with it) and write them at once. */
			size_t room = READ_SIZE / response_len, off = 0;
			for (int i = 0; i < count; i++) {
				memcpy(buf + off, response, response_len);
				off += response_len;
				if ((size_t)(i + 1) % room == 0 || i + 1 == count) {
					if (send_all(c, buf, off) < 0)
						return -1;
					off = 0;
				}
			}
		}
	}
	if (c->plen > 0)
		watch(ep, c, EPOLL_CTL_MOD);
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 4 || (strcmp(argv[1], "http") != 0 && strcmp(argv[1], "echo") != 0)) {
		fprintf(stderr, "usage: floor http|echo HOST PORT\n");
		return 2;
	}
	int http = strcmp(argv[1], "http") == 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3]))};
	if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) {
		fprintf(stderr, "floor: %s: not an IPv4 address\n", argv[2]);
		return 2;
	}
	int ln = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ln, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ln, 4096) < 0) {
		perror("floor: listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, ln, &lev);
	fprintf(stderr, "level=INFO msg=serving proto=%s addr=%s:%s native=floor\n", argv[1], argv[2], argv[3]);
	static char buf[READ_SIZE];
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("floor: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL) {
				int fd;
				while ((fd = accept4(ln, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					c = calloc(1, sizeof *c);
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->http = http;
					watch(ep, c, EPOLL_CTL_ADD);
				}
				continue;
			}
			if (c->plen > 0) {
				int r = flush(c);
				if (r < 0)
					drop(ep, c);
				else if (r == 1)
					watch(ep, c, EPOLL_CTL_MOD);
				continue;
			}
			if (on_read(ep, c, buf) < 0)
				drop(ep, c);
		}
	}
}

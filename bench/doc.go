// Package bench measures reactor backends side by side, the way bench-method.md asks for on a
// small, noisy machine, and is what `reactor bench` runs.
//
// Each contender — a backend, a native baseline written straight on a library's API, or an
// external target — is measured in interleaved rounds (A B C, A B C, …). In every round it gets
// a fresh server: a child process of the reactor binary (`reactor serve …` or
// `reactor native …`), so its CPU time and memory are its own. Where the machine is small the
// child is pinned to one CPU with GOMAXPROCS=1 and one loop, and the load generators to the
// others (see pinning). The load comes from built-in generators that validate every answer:
//
//   - http: closed loop over N keep-alive connections, pipelined (depth 16 by default) and
//     one request at a time, and a fixed offered rate with a latency histogram;
//   - echo: N connections, S-byte messages, every byte compared;
//   - chat: a room of N members, M of them sending numbered lines; every member checks it got
//     every other sender's lines exactly once and in order;
//   - idle: N connections after one round trip each, for memory per connection;
//   - proxy: TCP proxies (each backend's `serve --proto proxy`, the io.Copy baseline
//     native-iocopy, haproxy from the OS packages) relaying to an echo server the benchmark
//     starts once a round in a process of its own: request/response round trips closed loop
//     and at a fixed rate, bulk streams through and back (half-closed at the end), and memory
//     per idle proxied pair. A contender that cannot run here (haproxy not installed, a
//     backend without Conn.Dial) is reported as skipped, with the reason.
//
// A wrong or missing answer is counted as an error of its kind and never as throughput; a
// contender with errors is reported invalid, is not ranked and is never the reference.
//
// Every backend is started with --metrics-addr and audited: after each scenario, once the
// load generator has stopped and read every answer it was owed, the server's own counters
// (reactor_received_bytes_total, reactor_sent_bytes_total, reactor_http_requests_total,
// reactor_chat_lines_delivered_total, read from /metrics) must have grown by exactly what
// the generator counted it wrote, read, and received as answers or lines. A difference is an
// error like a wrong answer. Native baselines, external targets and older builds whose serve
// has no --metrics-addr keep no such counters and are reported as not audited.
//
// For every contender the report holds throughput (median and min–max over rounds), server
// CPU µs per operation (utime+stime from /proc/<pid>/stat around the measured window), peak
// RSS, memory per idle connection, latency percentiles, errors, and the median of per-round
// ratios against a reference. It is written as text, JSON, Markdown and an SVG chart.
//
// The package imports only the standard library and reactor: the servers it measures are other
// processes, so it never links an adapter.
package bench

// Package adapters names every event-loop backend of this module in one registry, so that a
// program picks one by the name a user types ("epoll", "std", …) instead of importing each
// adapter and registering it by hand:
//
//	b, err := adapters.Registry().New("std", reactor.Config{Addr: "127.0.0.1:8080"})
//
// Each backend lives in a package of its own below this one (adapters/epoll, adapters/stdnet,
// …); import one of those directly to use a backend's own options or constructor.
package adapters

// Package kv is a small line key-value protocol, written the way a library user writes a
// protocol of their own; docs/guide.md walks through it.
//
// A client sends one command per line (LF or CRLF) and gets one answer line per command:
//
//	SET key value   OK                     (the value is the rest of the line, spaces included)
//	GET key         VALUE value, or NOT_FOUND
//	DEL key         OK, or NOT_FOUND
//	QUIT            BYE, and the server closes the connection
//
// Anything else, and a line longer than Config.MaxLine, is answered with ERR and a reason;
// empty lines are ignored. A connection that sends nothing for Config.IdleTimeout is told
// "BYE idle" and closed. Every connection served by one Server shares its store.
package kv

// Package chat is a line-based chat room usable with nc: a client names itself with
// "NAME: <name>", is answered "CLIENT: <its address>", and from then on every line it sends is
// broadcast to every other member as "<name>: <line>". Joins and leaves are announced to the
// others; overlong lines are refused with a message; /who, /join, /rooms, /help and /quit are
// commands. A member is in one room at a time: DefaultRoom from its first name, another after
// /join; names are unique per room. The wire format is in docs/protocols.md.
//
// With Config.Bus, rooms are shared by every server on the bus: each server publishes its
// members' lines and membership changes, and the bus hands the others' in through Deliver,
// SyncServer and ServerGone, which reach the members here by AsyncWrite like a local line.
// protocols/chat/bus is such a bus over NATS; docs/chat-bus.md says how it works.
//
// With Config.Wire set to Classic the same room speaks the wire of the classic Python select()
// chat server and client instead: every message an 8-byte length header and a pickle of a tuple
// of strings (AppendClassic, ClassicFrameLen, DecodeClassic), and those programs' texts. The
// decoder parses that one shape and refuses every other pickle; it never unpickles.
//
// Member text reaches other people's terminals, so the room never relays it raw: control
// characters and invalid UTF-8 are made visible (AppendSafe), names are plain ASCII and unique
// regardless of case and of look-alike characters (0/O, 1/I/l).
//
// A broadcast is one AsyncWrite per recipient, made from the sender's callback; the line is
// encoded once and shared by reference with every recipient whose backend can hold it so
// (reactor.SharedWriter), so a line sent to a room of N costs one copy, not N. AsyncWrite never
// blocks, so a member that stops reading never stalls the sender or the room: its backend queue
// grows until the backend's high-water mark, then the backend drops it and the room announces
// that it was dropped.
package chat

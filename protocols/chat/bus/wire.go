package bus

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/reactorlab/reactor/protocols/chat"
)

// Subjects. A room's events go to subjectPrefix+<room>+".line" or ".presence", its /who
// requests to ".who"; heartbeats to subjectHeartbeat. Every server subscribes to the one
// wildcard subjectAll, so that it gets each other server's messages in the order they were
// published (NATS keeps a publisher's order on one subscription).
const (
	subjectAll       = "reactor.chat.>"
	subjectPrefix    = "reactor.chat.room."
	subjectHeartbeat = "reactor.chat.hb"
)

var errMalformed = errors.New("bus: malformed message")

// stamped is an event as it crosses the bus: the event, and its place in its server's stream
// for its room: the epoch (which room state on the publisher this is; a room forgotten and
// used again gets a new one) and the sequence number within it, from 1.
type stamped struct {
	chat.Event
	epoch, seq uint64
}

var kindCodes = map[chat.EventKind]byte{chat.EventLine: 'L', chat.EventJoin: 'J', chat.EventRename: 'R', chat.EventLeave: 'P'}

// appendEvent encodes s: one header line of space-separated fields, then the line's text.
//
//	<kind> <server> <epoch> <seq> <member> <since> <how> <name> <old or ->\n<text>
func appendEvent(b []byte, s *stamped) []byte {
	b = append(b, kindCodes[s.Kind], ' ')
	b = append(b, s.Server...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, s.epoch, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, s.seq, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, s.Member, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, s.Since, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(s.How), 10)
	b = append(b, ' ')
	b = append(b, s.Name...)
	b = append(b, ' ')
	if s.Old == "" {
		b = append(b, '-')
	} else {
		b = append(b, s.Old...)
	}
	b = append(b, '\n')
	return append(b, s.Text...)
}

// subjectOf is the subject s goes to.
func subjectOf(s *stamped) string {
	if s.Kind == chat.EventLine {
		return subjectPrefix + s.Room + ".line"
	}
	return subjectPrefix + s.Room + ".presence"
}

// parseEvent decodes what appendEvent made; room comes from the subject. Text is a slice of data.
func parseEvent(room string, data []byte) (stamped, error) {
	var s stamped
	head, text, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return s, errMalformed
	}
	f := bytes.Split(head, []byte{' '})
	if len(f) != 9 || len(f[0]) != 1 {
		return s, errMalformed
	}
	for k, c := range kindCodes {
		if c == f[0][0] {
			s.Kind = k
		}
	}
	var err error
	var how uint64
	nums := []*uint64{&s.epoch, &s.seq, &s.Member, nil, &how}
	for i, p := range nums {
		if p == nil {
			if s.Since, err = strconv.ParseInt(string(f[5]), 10, 64); err != nil {
				return s, errMalformed
			}
			continue
		}
		if *p, err = strconv.ParseUint(string(f[2+i]), 10, 64); err != nil {
			return s, errMalformed
		}
	}
	if s.Kind == 0 || how > 255 {
		return s, errMalformed
	}
	if !validID(f[1]) {
		return s, errMalformed
	}
	s.How = chat.How(how)
	s.Server, s.Room, s.Name = string(f[1]), room, string(f[7])
	if old := string(f[8]); old != "-" {
		s.Old = old
	}
	s.Text = text
	return s, nil
}

// heartbeat is what a server says of itself once a period: that it is alive, where its
// members connect (label), each room's place in its stream, and its members. bye is set on
// the last one, sent when it stops on purpose.
//
//	H <server> <label> <bye 0|1>\n
//	S <room> <epoch> <seq>\n        one per room
//	M <room> <member> <since> <name>\n   one per member
type heartbeat struct {
	server, label string
	bye           bool
	rooms         map[string][2]uint64 // epoch, last seq
	members       []chat.Event
}

func appendHeartbeat(b []byte, h *heartbeat) []byte {
	b = append(b, "H "...)
	b = append(b, h.server...)
	b = append(b, ' ')
	b = append(b, h.label...)
	if h.bye {
		b = append(b, " 1\n"...)
	} else {
		b = append(b, " 0\n"...)
	}
	for room, es := range h.rooms {
		b = append(b, "S "...)
		b = append(b, room...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, es[0], 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, es[1], 10)
		b = append(b, '\n')
	}
	for _, m := range h.members {
		b = append(b, "M "...)
		b = append(b, m.Room...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, m.Member, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, m.Since, 10)
		b = append(b, ' ')
		b = append(b, m.Name...)
		b = append(b, '\n')
	}
	return b
}

func parseHeartbeat(data []byte) (heartbeat, error) {
	h := heartbeat{rooms: map[string][2]uint64{}}
	first := true
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		f := bytes.Split(line, []byte{' '})
		switch {
		case first && len(f) == 4 && string(f[0]) == "H":
			h.server, h.label, h.bye = string(f[1]), string(f[2]), string(f[3]) == "1"
		case !first && len(f) == 4 && string(f[0]) == "S":
			epoch, err1 := strconv.ParseUint(string(f[2]), 10, 64)
			seq, err2 := strconv.ParseUint(string(f[3]), 10, 64)
			if err1 != nil || err2 != nil {
				return h, errMalformed
			}
			h.rooms[string(f[1])] = [2]uint64{epoch, seq}
		case !first && len(f) == 5 && string(f[0]) == "M":
			id, err1 := strconv.ParseUint(string(f[2]), 10, 64)
			since, err2 := strconv.ParseInt(string(f[3]), 10, 64)
			if err1 != nil || err2 != nil {
				return h, errMalformed
			}
			h.members = append(h.members, chat.Event{Kind: chat.EventJoin, Room: string(f[1]), Member: id, Since: since, Name: string(f[4])})
		default:
			return h, errMalformed
		}
		first = false
	}
	if !validID([]byte(h.server)) {
		return h, errMalformed
	}
	h.label = string(chat.AppendSafe(nil, []byte(h.label)))
	return h, nil
}

// validID reports whether id is a server ID as Dial makes them: lowercase hex, at most 32.
func validID(id []byte) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for _, b := range id {
		if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'f') {
			return false
		}
	}
	return true
}

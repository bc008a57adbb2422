package chat

import (
	"bytes"
	"net"
	"strings"

	"github.com/reactorlab/reactor/reactor"
)

// classicData handles every complete classic frame in in and keeps a partial last one for
// later. A frame that cannot be a classic one (a bad header, a body over the limit) loses the
// framing, so the member is told and closed; a frame whose body is refused loses only itself.
func (r *Room) classicData(m *member, in []byte) (int, reactor.Action) {
	if m.host == "" {
		m.host = hostOf(m.conn.RemoteAddr())
	}
	consumed := 0
	for len(in)-consumed >= ClassicHeaderLen {
		rest := in[consumed:]
		n, err := ClassicFrameLen(rest, r.maxFrame)
		if err != nil {
			r.say(m, "! "+strings.TrimPrefix(err.Error(), "chat: ")+"; closing")
			return len(in), reactor.Close
		}
		if len(rest) < ClassicHeaderLen+n {
			break // the body is still coming; at most maxFrame bytes wait
		}
		consumed += ClassicHeaderLen + n
		text, err := DecodeClassic(m.text[:0], rest[ClassicHeaderLen:ClassicHeaderLen+n])
		m.text = text[:0]
		switch {
		case err != nil:
			r.say(m, "! message refused: "+strings.TrimPrefix(err.Error(), "chat: "))
		case len(text) > r.maxLine:
			r.tooLong(m)
		case m.name == "":
			if !bytes.HasPrefix(text, []byte("NAME:")) {
				r.say(m, "! name yourself first with: NAME: <name>")
				continue
			}
			r.setName(m, strings.TrimSpace(string(text[len("NAME:"):])))
		case len(text) > 0:
			// Every message of a member is text for the others, a line starting with NAME:
			// or / included: the classic server had no commands.
			r.broadcast(m, m.tag, "", text)
		}
	}
	return consumed, reactor.None
}

// hostOf is the IP address of addr, as the classic server named its clients (address[0]).
func hostOf(addr net.Addr) string {
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

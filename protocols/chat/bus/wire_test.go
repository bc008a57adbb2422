package bus

import (
	"reflect"
	"testing"

	"github.com/reactorlab/reactor/protocols/chat"
)

func TestEventRoundTrip(t *testing.T) {
	for _, s := range []stamped{
		{Event: chat.Event{Kind: chat.EventLine, Server: "0a1b2c3d", Member: 7, Room: "lobby", Name: "alice", Text: []byte("hi there\x00")}, epoch: 1, seq: 42},
		{Event: chat.Event{Kind: chat.EventRename, Server: "ff", Member: 1, Room: "dev", Name: "bob", Old: "robert", Since: 1700000000000000000}, epoch: 3, seq: 1},
		{Event: chat.Event{Kind: chat.EventLeave, Server: "ff", Member: 1, Room: "dev", Name: "bob", How: chat.HowShutdown, Text: []byte{}}, epoch: 3, seq: 2},
	} {
		got, err := parseEvent(s.Room, appendEvent(nil, &s))
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if len(s.Text) == 0 {
			s.Text = got.Text
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip: got %+v; want %+v", got, s)
		}
	}
}

func TestMalformedRefused(t *testing.T) {
	for _, in := range []string{
		"",
		"no newline",
		"L 0a 1 1 1 0 0 alice -",           // no newline
		"X 0a 1 1 1 0 0 alice -\nhi",       // unknown kind
		"L 0A 1 1 1 0 0 alice -\nhi",       // server id not lowercase hex
		"L 0a x 1 1 0 0 alice -\nhi",       // epoch not a number
		"L 0a 1 1 1 0 999 alice -\nhi",     // how out of range
		"L 0a 1 1 1 0 0 alice - extra\nhi", // a field too many
	} {
		if _, err := parseEvent("lobby", []byte(in)); err == nil {
			t.Errorf("parseEvent(%q) accepted", in)
		}
	}
	for _, in := range []string{"", "S lobby 1 2\n", "H zz x 0\n", "H 0a x 0\nM lobby 1 x bob\n", "H 0a x 0\nQ\n"} {
		if _, err := parseHeartbeat([]byte(in)); err == nil {
			t.Errorf("parseHeartbeat(%q) accepted", in)
		}
	}
}

func TestHeartbeatRoundTrip(t *testing.T) {
	h := heartbeat{server: "0a1b", label: "127.0.0.1:9000", rooms: map[string][2]uint64{"lobby": {1, 9}, "dev": {2, 3}},
		members: []chat.Event{{Kind: chat.EventJoin, Member: 4, Room: "lobby", Name: "alice", Since: 5}}}
	got, err := parseHeartbeat(appendHeartbeat(nil, &h))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("round trip: got %+v; want %+v", got, h)
	}
	h.bye, h.members = true, nil
	if got, _ := parseHeartbeat(appendHeartbeat(nil, &h)); !got.bye {
		t.Errorf("bye lost in the round trip")
	}
}

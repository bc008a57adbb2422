package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/protocols/chat/bus"
	"github.com/reactorlab/reactor/reactor"
)

// newChat is the chat handler: a room of its own, or, with chat.bus (--bus), rooms shared by
// every server on a NATS bus, an embedded one when the bus is "embedded". The release
// function publishes the members' leaves and a goodbye, then disconnects (and stops the
// embedded server); serve calls it after the backend's Shutdown.
func newChat(s settings, cfg reactor.Config) (reactor.Handler, func(), error) {
	wire, err := chat.ParseWire(s.Chat.Wire)
	if err != nil {
		return nil, nil, err
	}
	cc := chat.Config{MaxLine: int(s.Chat.MaxLine), MaxName: s.Chat.MaxName, Logger: cfg.Logger, Wire: wire}
	if s.Chat.Bus == "" {
		return chat.New(cc), func() {}, nil
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	url := s.Chat.Bus
	stopEmbedded := func() {}
	if url == "embedded" {
		emb, err := bus.StartEmbedded(bus.EmbeddedOptions{Listen: s.Chat.BusListen, Routes: splitList(s.Chat.BusRoutes)})
		if err != nil {
			return nil, nil, err
		}
		url, stopEmbedded = emb.URL(), emb.Close
		attrs := []any{"url", url}
		if a := emb.ClusterAddr(); a != nil {
			attrs = append(attrs, "routes_on", a.String(), "routes_to", s.Chat.BusRoutes)
		}
		logger.Info("chat bus: embedded NATS server", attrs...)
	}
	link, err := bus.Dial(bus.Options{URL: url, Label: s.Addr, Logger: logger})
	if err != nil {
		stopEmbedded()
		return nil, nil, err
	}
	cc.Bus = link
	room := chat.New(cc)
	if err := link.Start(room); err != nil {
		link.Close()
		stopEmbedded()
		return nil, nil, err
	}
	logger.Info("chat bus: joined", "bus_id", link.ID(), "url", url)
	return room, func() {
		link.Close()
		stopEmbedded()
	}, nil
}

// checkBus refuses bus settings that cannot work: a bus for another protocol, cluster
// settings without an embedded bus, a URL that is neither embedded nor nats://.
func checkBus(s settings, flagGiven bool) error {
	c := s.Chat
	if s.Proto != "chat" {
		if flagGiven {
			return fmt.Errorf("--bus, --bus-listen and --bus-routes are for --proto chat; the protocol is %s", s.Proto)
		}
		return nil
	}
	if c.Bus != "" && c.Wire == "classic" {
		return errors.New("chat.wire (--chat-wire) classic cannot be shared over chat.bus (--bus): the classic programs have no rooms and no frame for other servers' events; use the lines wire with --bus")
	}
	if c.Bus != "embedded" && (c.BusListen != "" || c.BusRoutes != "") {
		return errors.New("chat.bus_listen (--bus-listen) and chat.bus_routes (--bus-routes) cluster embedded NATS servers; they need chat.bus (--bus) embedded")
	}
	if c.Bus == "" || c.Bus == "embedded" {
		return nil
	}
	for _, u := range splitList(c.Bus) {
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			return fmt.Errorf("chat.bus (--bus) %q: want embedded, or nats://host:port[,nats://host:port…]", u)
		}
	}
	return nil
}

// busForWorkers starts the embedded bus in a parent of serving processes (prefork's workers,
// the process backend's per-connection children), so that they share one room through it, and
// returns the flags that point them at it. For a nats:// bus there is nothing to do: each
// process connects on its own.
func busForWorkers(s settings, logger *slog.Logger) (args []string, stop func(), err error) {
	if s.Proto != "chat" || s.Chat.Bus != "embedded" {
		return nil, func() {}, nil
	}
	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{Listen: s.Chat.BusListen, Routes: splitList(s.Chat.BusRoutes)})
	if err != nil {
		return nil, nil, err
	}
	logger.Info("chat bus: embedded NATS server for the workers", "url", emb.URL())
	return []string{"--bus", emb.URL(), "--bus-listen=", "--bus-routes="}, emb.Close, nil
}

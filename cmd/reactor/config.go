package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
	"gopkg.in/yaml.v3"
)

// settings is everything `reactor serve` can be told, by a config file and by flags. Its YAML
// keys are the documented config-file format (see README and reactor.example.yaml).
type settings struct {
	Backend         string        `yaml:"backend"`
	Proto           string        `yaml:"proto"`
	Addr            string        `yaml:"addr"`
	Loops           int           `yaml:"loops"`
	Procs           int           `yaml:"procs"`
	EdgeTriggered   bool          `yaml:"edge_triggered"`
	ReusePort       bool          `yaml:"reuseport"`
	Join            bool          `yaml:"join"`
	ReadBuffer      byteSize      `yaml:"read_buffer"`
	MaxInbound      byteSize      `yaml:"max_inbound"`
	MaxOutbound     byteSize      `yaml:"max_outbound"`
	DialTimeout     time.Duration `yaml:"dial_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	LogLevel        string        `yaml:"log_level"`
	LogFormat       string        `yaml:"log_format"`
	MetricsAddr     string        `yaml:"metrics_addr"`
	Pprof           bool          `yaml:"pprof"`
	HTTP            httpSettings  `yaml:"http"`
	Chat            chatSettings  `yaml:"chat"`
	Echo            echoSettings  `yaml:"echo"`
	Proxy           proxySettings `yaml:"proxy"`
	TLS             tlsSettings   `yaml:"tls"`
}

type httpSettings struct {
	MaxRequestLine byteSize      `yaml:"max_request_line"`
	MaxHeaderBytes byteSize      `yaml:"max_header_bytes"`
	MaxBody        byteSize      `yaml:"max_body"`
	IdleTimeout    time.Duration `yaml:"idle_timeout"`
	HeaderTimeout  time.Duration `yaml:"header_timeout"`
	BodyTimeout    time.Duration `yaml:"body_timeout"`
	AccessLog      bool          `yaml:"access_log"`
	AccessLogRate  int           `yaml:"access_log_per_second"`
}

type chatSettings struct {
	MaxLine byteSize `yaml:"max_line"`
	MaxName int      `yaml:"max_name"`
	// Bus is --bus: a NATS URL list, or "embedded"; empty: rooms are this server's alone.
	Bus       string `yaml:"bus"`
	BusListen string `yaml:"bus_listen"`
	BusRoutes string `yaml:"bus_routes"`
	// Wire is "lines" (the default) or "classic" (chat.ParseWire).
	Wire string `yaml:"wire"`
}

type echoSettings struct {
	// Tag is "none" (the default), "pid", "thread" or "loop" (echo.ParseTag).
	Tag string `yaml:"tag"`
}

type proxySettings struct {
	// Upstream is the comma-separated host:port list that --upstream takes.
	Upstream  string   `yaml:"upstream"`
	HighWater byteSize `yaml:"high_water"`
}

// defaultSettings are used for anything neither the file nor a flag sets.
func defaultSettings(backend string) settings {
	return settings{
		Backend:         backend,
		Proto:           "http",
		Addr:            "127.0.0.1:8080",
		Procs:           1,
		ShutdownTimeout: 10 * time.Second,
		LogLevel:        "info",
		LogFormat:       "text",
	}
}

// loadConfig reads a YAML config file over s. Unknown keys are errors, so a typo is reported
// instead of silently ignored.
func loadConfig(path string, s *settings) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	// yaml.v3's own report of an unknown key names Go types, not the keys a user may write.
	if err := checkKeys(doc.Content[0], reflect.TypeOf(*s), ""); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := doc.Decode(s); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// checkKeys fails on the first key of the mapping n that is not a yaml tag of struct t,
// nested mappings checked against nested structs.
func checkKeys(n *yaml.Node, t reflect.Type, prefix string) error {
	if n.Kind != yaml.MappingNode {
		return nil // the decoder reports a wrong shape with its line
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = t.Field(i).Type
		names = append(names, name)
	}
	sort.Strings(names)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		ft, ok := fields[key.Value]
		if !ok {
			return fmt.Errorf("line %d: unknown key %q (valid: %s)", key.Line, prefix+key.Value, strings.Join(names, ", "))
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Duration(0)) {
			if err := checkKeys(val, ft, prefix+key.Value+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// backendConfig is the backend's part of the settings, without a logger.
func (s *settings) backendConfig() reactor.Config {
	return reactor.Config{
		Addr:           s.Addr,
		Loops:          s.Loops,
		EdgeTriggered:  s.EdgeTriggered,
		ReusePort:      s.ReusePort,
		ReadBufferSize: int(s.ReadBuffer),
		MaxInbound:     int(s.MaxInbound),
		MaxOutbound:    int(s.MaxOutbound),
		DialTimeout:    s.DialTimeout,
	}
}

// validate refuses settings no server can honour, naming the config key and flag.
func (s *settings) validate() error {
	for _, c := range []struct {
		name string
		v    int
	}{
		{"loops (--loops)", s.Loops},
		{"read_buffer (--read-buffer)", int(s.ReadBuffer)},
		{"max_inbound (--max-inbound)", int(s.MaxInbound)},
		{"max_outbound (--max-outbound)", int(s.MaxOutbound)},
		{"dial_timeout (--dial-timeout)", int(s.DialTimeout)},
		{"shutdown_timeout (--shutdown-timeout)", int(s.ShutdownTimeout)},
		{"http.max_request_line", int(s.HTTP.MaxRequestLine)},
		{"http.max_header_bytes", int(s.HTTP.MaxHeaderBytes)},
		{"http.max_body (--http-max-body)", int(s.HTTP.MaxBody)},
		{"chat.max_line (--chat-max-line)", int(s.Chat.MaxLine)},
		{"http.access_log_per_second", s.HTTP.AccessLogRate},
		{"chat.max_name", s.Chat.MaxName},
		{"proxy.high_water (--proxy-high-water)", int(s.Proxy.HighWater)},
	} {
		if c.v < 0 {
			return fmt.Errorf("%s is negative; want 0 (the default) or more", c.name)
		}
	}
	if _, err := chat.ParseWire(s.Chat.Wire); err != nil {
		return fmt.Errorf("chat.wire (--chat-wire): %s", strings.TrimPrefix(err.Error(), "chat: "))
	}
	if _, err := echo.ParseTag(s.Echo.Tag); err != nil {
		return fmt.Errorf("echo.tag (--echo-tag): %s", strings.TrimPrefix(err.Error(), "echo: "))
	}
	if s.Procs < 1 {
		return fmt.Errorf("procs (--procs) is %d; want 1 or more", s.Procs)
	}
	if s.MetricsAddr != "" && s.Procs > 1 {
		return fmt.Errorf("metrics_addr (--metrics-addr) with procs (--procs) %d: each worker process counts on its own and would need a metrics port of its own, which serve does not arrange; run one process, or one reactor serve --join per port", s.Procs)
	}
	if err := s.TLS.validate(s.Procs); err != nil {
		return err
	}
	if s.Pprof && s.MetricsAddr == "" {
		return fmt.Errorf("pprof (--pprof) is served on the metrics listener; set metrics_addr (--metrics-addr) too")
	}
	return nil
}

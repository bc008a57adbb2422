package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

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
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	LogLevel        string        `yaml:"log_level"`
	HTTP            httpSettings  `yaml:"http"`
	Chat            chatSettings  `yaml:"chat"`
}

type httpSettings struct {
	MaxRequestLine byteSize      `yaml:"max_request_line"`
	MaxHeaderBytes byteSize      `yaml:"max_header_bytes"`
	MaxBody        byteSize      `yaml:"max_body"`
	IdleTimeout    time.Duration `yaml:"idle_timeout"`
	HeaderTimeout  time.Duration `yaml:"header_timeout"`
	BodyTimeout    time.Duration `yaml:"body_timeout"`
}

type chatSettings struct {
	MaxLine byteSize `yaml:"max_line"`
	MaxName int      `yaml:"max_name"`
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
	}
}

// loadConfig reads a YAML config file over s. Unknown keys are errors, so a typo is reported
// instead of silently ignored.
func loadConfig(path string, s *settings) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(s); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

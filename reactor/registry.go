package reactor

import (
	"fmt"
	"sort"
	"strings"
)

// Constructor makes a backend from a configuration. It fails with an error wrapping
// ErrNotSupported when the backend does not run here or cannot honour an option of cfg.
type Constructor func(cfg Config) (Backend, error)

// Registry maps backend names to their description and constructor. The zero value is an empty
// registry ready to use. It is not safe for concurrent Register calls; fill it at start-up.
type Registry struct {
	entries map[string]registered
}

type registered struct {
	info       Info
	newBackend Constructor
}

// Register adds a backend under info.Name. Registering a name twice panics: it is a wiring bug.
func (r *Registry) Register(info Info, newBackend Constructor) {
	if r.entries == nil {
		r.entries = map[string]registered{}
	}
	if _, dup := r.entries[info.Name]; dup {
		panic("reactor: backend " + info.Name + " registered twice")
	}
	r.entries[info.Name] = registered{info: info, newBackend: newBackend}
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Infos returns every registered backend's Info, sorted by name.
func (r *Registry) Infos() []Info {
	infos := make([]Info, 0, len(r.entries))
	for _, n := range r.Names() {
		infos = append(infos, r.entries[n].info)
	}
	return infos
}

// Info returns the description registered under name.
func (r *Registry) Info(name string) (Info, bool) {
	e, ok := r.entries[name]
	return e.info, ok
}

// New constructs the backend registered under name. An unknown name gives an error wrapping
// ErrUnknownBackend that lists the valid names; a backend unavailable here gives one wrapping
// ErrNotSupported with the reason.
func (r *Registry) New(name string, cfg Config) (Backend, error) {
	e, ok := r.entries[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownBackend, name, strings.Join(r.Names(), ", "))
	}
	if !e.info.Available {
		return nil, fmt.Errorf("backend %s: %w here: %s", name, ErrNotSupported, e.info.Reason)
	}
	return e.newBackend(cfg)
}

package nethttpnative

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/reactorlab/reactor/bench/native/internal/nativetest"
	"github.com/reactorlab/reactor/reactor"
)

// TestServe: both routes answer as protocols/http1's do, others do not, and echo is refused.
func TestServe(t *testing.T) {
	addr := nativetest.Start(t, Serve, "http")
	for _, tc := range []struct {
		path, ctype, body string
		status            int
	}{
		{"/plaintext", "text/plain", "Hello, World!", 200},
		{"/json", "application/json", `{"message":"Hello, World!"}`, 200},
		{"/nothing", "", "", 404},
	} {
		resp, err := http.Get("http://" + addr + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || tc.status == 200 && (string(body) != tc.body || resp.Header.Get("Content-Type") != tc.ctype) {
			t.Errorf("GET %s: %d %q %q; want %d %q %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.ctype, tc.body)
		}
	}
	if err := Serve(context.Background(), "echo", "127.0.0.1:0", 1); !errors.Is(err, reactor.ErrNotSupported) {
		t.Errorf("Serve(echo) = %v; want ErrNotSupported", err)
	}
}

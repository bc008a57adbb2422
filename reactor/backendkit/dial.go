package backendkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// DialError is the cause a backend gives OnClose when Conn.Dial could not connect to addr:
// errors.Is finds both reactor.ErrDialFailed and cause in it.
func DialError(addr string, cause error) error { return &dialError{addr: addr, cause: cause} }

type dialError struct {
	addr  string
	cause error
}

func (e *dialError) Error() string   { return "reactor: dial " + e.addr + ": " + e.cause.Error() }
func (e *dialError) Unwrap() []error { return []error{reactor.ErrDialFailed, e.cause} }

// CheckDialAddr is the check every backend's Conn.Dial makes before it begins: addr must be
// host:port with a port number in 1–65535. The host may be empty (the local system, as net.Dial
// has it).
func CheckDialAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("reactor: dial %q: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("reactor: dial %q: port must be a number from 1 to 65535", addr)
	}
	return nil
}

// DialTCP connects to addr with the standard library, for backends that make outbound
// connections off their loops (a goroutine per dial): it gives up after timeout or when ctx
// ends, and its error is already a DialError: when ctx ended the dial, it carries
// context.Cause(ctx) (a Shutdown's ErrServerClosed, say), and a timeout always carries
// context.DeadlineExceeded. It blocks; call it from a goroutine of the backend's own.
func DialTCP(ctx context.Context, timeout time.Duration, addr string) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			// ctx ended the dial: say why it ended (a Shutdown's ErrServerClosed, say).
			return nil, DialError(addr, cause)
		}
		return nil, DialError(addr, namedDeadline(err))
	}
	return c.(*net.TCPConn), nil
}

// namedDeadline makes the error of a connect that ran out of time wrap context.DeadlineExceeded,
// as Conn.Dial promises. net wraps it when it sees the context's deadline first; but it gives the
// socket the same deadline, and when that one fires first it reports only the poller's
// os.ErrDeadlineExceeded.
func namedDeadline(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		return deadlineExceeded{err}
	}
	return err
}

// deadlineExceeded is a connect's timeout in which errors.Is finds context.DeadlineExceeded too.
type deadlineExceeded struct{ error }

func (e deadlineExceeded) Unwrap() error        { return e.error }
func (e deadlineExceeded) Is(target error) bool { return target == context.DeadlineExceeded }

package process

import (
	"os/exec"
	"sync/atomic"
)

// Name is the backend name users type.
const Name = "process"

// Launcher returns the command that serves one connection: started with the connection's
// socket as its descriptor 3 (the backend sets cmd.ExtraFiles to it), the program must serve
// it with ServeChild and the handler the parent's Start was given — built anew, from the same
// settings — and exit when it closes. The backend sets ExtraFiles and SysProcAttr; the
// Launcher sets the rest (Stderr, to see the child's log). Safe from any goroutine.
type Launcher func() (*exec.Cmd, error)

var launcher atomic.Pointer[Launcher]

// SetLauncher makes the backend available in this program, starting its children with l.
// Call it once, at program start, before the registry is read (adapters.Registry reads Info).
func SetLauncher(l Launcher) { launcher.Store(&l) }

// ChildFD is the descriptor number of the connection in a child.
const ChildFD = 3

// Unsupported entries; see the package documentation.
const (
	// SharedHandler: connections do not share the handler given to Start.
	SharedHandler = "SharedHandler"
)

func unsupported() []string { return []string{"EdgeTriggered", "Stats", SharedHandler} }

const model = "a child process per connection: the parent accepts and starts the program again with the socket as its descriptor 3; the child serves it (the epoll connection code, in poll(2)) and exits at close"

const progression = "process per connection (ForkingMixIn): a fork per client, nothing shared, the kernel isolating each"

const noLauncher = "needs a launcher: a program that starts itself as the serving child (reactor serve does; see process.SetLauncher)"

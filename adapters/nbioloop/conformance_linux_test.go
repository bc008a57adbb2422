//go:build linux

package nbioloop

import (
	"testing"

	"github.com/reactorlab/reactor/reactor/reactortest"
)

func TestConformance(t *testing.T) { reactortest.Run(t, New) }

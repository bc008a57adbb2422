package reactortest

import "testing"

func (s *suite) testAfterFunc(t *testing.T) {
	t.Skip("contract v2 scenario being written on branch v2/suite")
}

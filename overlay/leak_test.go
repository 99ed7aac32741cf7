package overlay

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"
)

// Close stops everything the hosts and routers started: after closing
// three joined hosts (which provided and looked zones up), no goroutine of
// theirs is left.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	a := mustHost(t, HostOptions{})
	b := mustHost(t, HostOptions{Bootstrap: a.Addrs()})
	c := mustHost(t, HostOptions{Bootstrap: a.Addrs()})
	if err := b.Provide(context.Background(), "leak.test."); err != nil {
		t.Fatalf("Provide: %v", err)
	}
	r := NewRouter(c, RouterOptions{})
	if z, _, err := r.FindZone(context.Background(), "www.leak.test."); err != nil || z != "leak.test." {
		t.Fatalf("FindZone = %q, %v", z, err)
	}
	r.Close()
	for _, h := range []*Host{c, b, a} {
		if err := h.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	goleak.VerifyNone(t, ignore)
	if err := a.Provide(context.Background(), "late.test."); !errors.Is(err, ErrClosed) {
		t.Errorf("Provide after Close = %v, want ErrClosed", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close = %v, want nil (idempotent)", err)
	}
}

func mustHost(t *testing.T, o HostOptions) *Host {
	t.Helper()
	o.KeyFile = t.TempDir() + "/id.key"
	h, err := NewHost(context.Background(), o)
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	return h
}

package dnsfront

import (
	"bytes"
	"net"
	"testing"
)

// countConn counts the writes that reach the network.
type countConn struct {
	net.Conn
	writes [][]byte
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestCorkConn(t *testing.T) {
	under := &countConn{}
	c := &corkConn{Conn: under}
	if _, err := c.Write([]byte("handshake")); err != nil {
		t.Fatal(err)
	}
	c.cork()
	for _, rec := range []string{"rec1", "rec2", "rec3"} {
		if n, err := c.Write([]byte(rec)); err != nil || n != len(rec) {
			t.Fatalf("corked Write = %d, %v", n, err)
		}
	}
	if len(under.writes) != 1 {
		t.Fatalf("%d writes reached the network while corked, want 1 (the one before)", len(under.writes))
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	want := []string{"handshake", "rec1rec2rec3"}
	if len(under.writes) != len(want) {
		t.Fatalf("writes %q, want %q", under.writes, want)
	}
	for i, w := range want {
		if string(under.writes[i]) != w {
			t.Errorf("write %d = %q, want %q", i, under.writes[i], w)
		}
	}
	// A corked burst over corkMax goes out before uncork.
	c.cork()
	big := bytes.Repeat([]byte{'x'}, corkMax)
	if _, err := c.Write(big); err != nil {
		t.Fatal(err)
	}
	if len(under.writes) != 3 {
		t.Errorf("%d writes after a corked %d-octet write, want 3", len(under.writes), corkMax)
	}
	if err := c.uncork(); err != nil || len(under.writes) != 3 {
		t.Errorf("uncork with nothing held: %v, %d writes", err, len(under.writes))
	}
}

// Package hostport checks the "HOST:PORT" addresses of configuration
// files and command lines.
package hostport

import (
	"fmt"
	"net"
	"strconv"
)

// Split splits a listen or dial address "HOST:PORT" (an IPv6 host in
// brackets) and checks the port is a number from 0 to 65535. Port 0 is
// accepted: for a listener it means any free port; callers that need a
// real port check for 0 themselves. The host may be empty (all
// interfaces).
func Split(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q in %q: want 0 to 65535", p, addr)
	}
	return h, n, nil
}

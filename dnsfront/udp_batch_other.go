//go:build !linux

package dnsfront

import (
	"net"
	"runtime"
)

// batchSupported: no recvmmsg/sendmmsg here; UDPOptions.Batch is ignored.
const batchSupported = false

// batchWorker falls back to one datagram per system call.
func (s *UDPServer) batchWorker(c *net.UDPConn) { s.worker(c) }

// usableCPUs is the number of CPUs the process may run on.
func usableCPUs() int { return runtime.NumCPU() }

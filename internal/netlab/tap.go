package netlab

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openTAP creates the TAP device name in the calling process's network
// namespace and returns the file the switch reads and writes its frames
// through (no packet-information header). The device is not persistent:
// it vanishes when the file is closed, whichever namespace it was moved
// to.
func openTAP(name string) (*os.File, error) {
	if len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("netlab: interface name %q longer than %d bytes", name, unix.IFNAMSIZ-1)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netlab: opening /dev/net/tun: %w", err)
	}
	var req struct {
		name  [unix.IFNAMSIZ]byte
		flags uint16
		_     [40 - unix.IFNAMSIZ - 2]byte
	}
	copy(req.name[:], name)
	req.flags = unix.IFF_TAP | unix.IFF_NO_PI
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); e != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("netlab: creating TAP device %s: %w", name, e)
	}
	// Non-blocking: os.NewFile hands it to the runtime poller, so Close
	// wakes a blocked Read.
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}

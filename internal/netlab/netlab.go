// Package netlab builds small networks of Linux network namespaces for
// tests that need real links that fail: each host is a namespace with
// one interface (eth0, a TAP device) on a /24, and a switch in the test
// process (Switch) joins the TAP devices, delaying, dropping or cutting
// frames per direction. The kernel's IP, UDP and TCP stacks, and the
// processes run in the namespaces (real `ddnrs node`s), are real; the
// wire between them is emulated in user space because this machine's
// kernel has no netem qdisc (docs/chaos.md). Disks: MountTmpfs (a small
// disk to fill) and MountSlowDisk (FUSE, fsync delayed).
//
// It needs root. A test package that uses it calls Main from its
// TestMain: as root, Main runs the package's tests again in a child
// process with a network and mount namespace of its own (the "client
// host": the tests' own sockets reach the lab through the switch), so
// every namespace, interface, mount and process a run makes is private
// to it and gone when it ends, even if the run is killed. Tests call
// Need first: it skips them with the reason when they cannot run (not
// root), and fails them under CI when the machine is root but cannot.
package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ddnrs/ddnrs/internal/testtool"
)

// EnvRun names the environment variable that marks a run's processes:
// Main sets it (to the run's name) in the isolated child, and every
// process the tests start inherits it, so Cleanup finds stragglers.
const EnvRun = "DDNRS_NETLAB_RUN"

// unavailable says why the lab cannot run in this process, nil when it
// can (set by Main).
var unavailable error

// Runner is what Main runs: *testing.M, or a TestMain's wrapper of it
// that prepares something inside the isolated run first.
type Runner interface{ Run() int }

// Main runs the test package m. As root, outside a lab run, it re-runs
// the test binary with the same arguments in a new network and mount
// namespace and returns its exit code, after killing any process of the
// run still alive. In that child (or not as root) it runs m itself.
func Main(m Runner) int {
	if os.Getenv(EnvRun) != "" {
		if err := enter(); err != nil {
			unavailable = fmt.Errorf("netlab: setting up the run's namespace: %w", err)
		}
		return m.Run()
	}
	if os.Geteuid() != 0 {
		return m.Run()
	}
	run := "ddnrs-netlab-" + strconv.Itoa(os.Getpid())
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), EnvRun+"="+run)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET | unix.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	Cleanup(run)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode()
	case errors.As(err, &ee):
		fmt.Fprintf(os.Stderr, "netlab: the isolated test run ended: %v\n", err)
		return 1
	default:
		// Root, but no namespaces (a container without CAP_SYS_ADMIN):
		// run here, and Need says why the lab tests cannot run.
		unavailable = fmt.Errorf("netlab: cannot start the isolated run (new network and mount namespace): %w", err)
		return m.Run()
	}
}

// enter prepares the isolated child: its mounts stop propagating to the
// machine (tmpfs mounts and /run/netns entries stay private) and its
// loopback comes up.
func enter() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	return ip("link", "set", "lo", "up")
}

// Need ends the test unless a lab can be built: it skips when not root
// (anywhere: the suite needs root, `sudo make chaos`) and when the
// machine cannot make namespaces or TAP devices (failing instead under
// CI, where a root run that cannot build the lab must not pass).
func Need(t testing.TB) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("netlab: needs root for network namespaces, TAP devices and tmpfs mounts (running as uid %d); run `sudo make chaos`", uid)
	}
	testtool.Need(t, "ip", "iproute2")
	why := unavailable
	if why == nil && os.Getenv(EnvRun) == "" {
		why = errors.New("netlab: the package's TestMain does not call netlab.Main, so the lab would touch the machine's own network namespace")
	}
	if why == nil {
		if _, err := os.Stat("/dev/net/tun"); err != nil {
			why = fmt.Errorf("netlab: no TAP devices: %w", err)
		}
	}
	if why != nil {
		testtool.Missing(t, why.Error(), "a root shell with CAP_SYS_ADMIN, CAP_NET_ADMIN and /dev/net/tun")
	}
}

// Cleanup kills every process marked with run (EnvRun=run in its
// environment) and waits a moment for the kernel to reap its
// namespaces. Main calls it after the isolated run; `make chaos-clean`
// does the same for any run.
func Cleanup(run string) []int {
	want := []byte(EnvRun + "=" + run + "\x00")
	var killed []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append(env, 0), want) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
	return killed
}

// Host is one machine of a lab: a network namespace whose eth0 has IP,
// or the client (the test process's own namespace, NS empty).
type Host struct {
	Index  int    // 1..n; 0 for the client
	NS     string // namespace name; "" for the client
	IP     string // 10.77.L.Index; 10.77.L.254 for the client
	ifname string
	mac    MAC
	port   int
}

// Lab is a network of hosts behind one Switch. Close removes it.
type Lab struct {
	Name   string
	Client *Host
	Hosts  []*Host
	Switch *Switch

	mu     sync.Mutex
	closed bool
}

var labs atomic.Int32

// New builds a lab of n hosts (1 to 250) and removes it when the test
// ends. Call Need first.
func New(t testing.TB, n int) *Lab {
	t.Helper()
	l, err := Build(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// Build builds a lab of n hosts: namespaces <run>-l<L>-h<i>, the
// addresses 10.77.L.i/24, static neighbour entries (no ARP to lose in a
// partition) and the client's interface 10.77.L.254. It must run inside
// Main's isolated run.
func Build(n int) (*Lab, error) {
	run := os.Getenv(EnvRun)
	if run == "" {
		return nil, errors.New("netlab: Build outside an isolated run (call netlab.Main from TestMain)")
	}
	if n < 1 || n > 250 {
		return nil, fmt.Errorf("netlab: %d hosts; a lab has 1 to 250", n)
	}
	id := int(labs.Add(1))
	if id > 250 {
		return nil, errors.New("netlab: more than 250 labs in one run")
	}
	l := &Lab{Name: fmt.Sprintf("%s-l%d", run, id), Switch: newSwitch()}
	host := func(i int) *Host {
		h := &Host{Index: i, IP: fmt.Sprintf("10.77.%d.%d", id, i), mac: MAC{0x02, 0x4e, 0x4c, byte(id), 0, byte(i)}}
		if i == 0 {
			h.IP = fmt.Sprintf("10.77.%d.254", id)
			h.mac[5] = 0xfe
			h.ifname = fmt.Sprintf("nl%dc", id)
		} else {
			h.NS = fmt.Sprintf("%s-h%d", l.Name, i)
			h.ifname = fmt.Sprintf("nl%dh%d", id, i)
		}
		return h
	}
	l.Client = host(0)
	for i := 1; i <= n; i++ {
		l.Hosts = append(l.Hosts, host(i))
	}
	if err := l.build(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Lab) all() []*Host { return append([]*Host{l.Client}, l.Hosts...) }

func (l *Lab) build() error {
	for _, h := range l.all() {
		f, err := openTAP(h.ifname)
		if err != nil {
			return err
		}
		h.port = l.Switch.add(f, h.mac)
		var cmds []string
		if h.NS != "" {
			if err := ip("netns", "add", h.NS); err != nil {
				return err
			}
			if err := ip("link", "set", h.ifname, "netns", h.NS); err != nil {
				return err
			}
			cmds = append(cmds, "link set lo up", "link set "+h.ifname+" name eth0")
		}
		dev := h.Dev()
		cmds = append(cmds, "link set "+dev+" addrgenmode none",
			fmt.Sprintf("link set %s address %s up", dev, h.mac),
			fmt.Sprintf("addr add %s/24 dev %s", h.IP, dev))
		for _, o := range l.all() {
			if o != h {
				cmds = append(cmds, fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", o.IP, o.mac, dev))
			}
		}
		if err := ipBatch(h.NS, cmds); err != nil {
			return err
		}
	}
	return nil
}

// Dev is the host's interface name in its namespace.
func (h *Host) Dev() string {
	if h.NS == "" {
		return h.ifname
	}
	return "eth0"
}

func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Command returns a command that runs name with args inside h's
// namespace (through `ip netns exec`, which execs it: the process's PID
// is the command's, for signals). For the client it runs name directly.
func (l *Lab) Command(h *Host, name string, args ...string) *exec.Cmd {
	if h.NS == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Set sets the link from one host to another (one direction).
func (l *Lab) Set(from, to *Host, k Link) { l.Switch.SetLink(from.port, to.port, k) }

// Between sets the links both ways between every host of a and every
// host of b.
func (l *Lab) Between(a, b []*Host, k Link) {
	for _, x := range a {
		for _, y := range b {
			if x != y {
				l.Set(x, y, k)
				l.Set(y, x, k)
			}
		}
	}
}

// Partition cuts every link between hosts of different sides, both
// ways. Hosts on no side, and the client, keep their links.
func (l *Lab) Partition(sides ...[]*Host) {
	for i, a := range sides {
		for _, b := range sides[i+1:] {
			l.Between(a, b, Link{Down: true})
		}
	}
}

// Heal makes every link of the lab whole again: no delay, no loss, none
// down.
func (l *Lab) Heal() {
	for _, a := range l.all() {
		for _, b := range l.all() {
			if a != b {
				l.Set(a, b, Link{})
			}
		}
	}
}

// Counts returns what crossed from one host to another.
func (l *Lab) Counts(from, to *Host) Counts { return l.Switch.Counts(from.port, to.port) }

// Close stops the switch (its TAP devices vanish) and deletes the
// namespaces. Processes run in them must be stopped first by their
// owner; a namespace still holding one lives until it exits.
func (l *Lab) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	l.Switch.Close()
	for _, h := range l.Hosts {
		if h.NS != "" {
			ip("netns", "del", h.NS)
		}
	}
}

// ip runs the ip command with args.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// ipBatch runs ip commands (one a line) in namespace ns ("" for the
// current one) with one ip process.
func ipBatch(ns string, cmds []string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	c := exec.Command("ip", args...)
	c.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: ip %s: %v: %s\n%s", strings.Join(args, " "), err, bytes.TrimSpace(out), strings.Join(cmds, "\n"))
	}
	return nil
}

// MountTmpfs mounts a tmpfs of size bytes at dir (creating it) until the
// test ends: a small disk that fills up. The mount is private to the
// isolated run.
func MountTmpfs(t testing.TB, dir string, size int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("netlab-tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)+",mode=0700"); err != nil {
		t.Fatalf("netlab: mounting a %d-byte tmpfs at %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("netlab: unmounting %s: %v", dir, err)
		}
	})
}

// In runs fn on an OS thread that has joined h's network namespace, so
// the sockets fn opens (listeners, dials) belong to h; they stay there
// after fn returns. The thread is discarded afterwards. For the client
// fn runs as is.
func (l *Lab) In(h *Host, fn func() error) error {
	if h.NS == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine's end ends the thread, which
		// then never runs other goroutines in the wrong namespace.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + h.NS)
		if err != nil {
			errc <- fmt.Errorf("netlab: %w", err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netlab: joining %s: %w", h.NS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

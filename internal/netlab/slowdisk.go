package netlab

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// SlowDisk is a directory whose every fsync takes longer: a FUSE
// file system in the test process passing every operation through to a
// backing directory, that sleeps Delay before each fsync and fdatasync
// it passes on. The kernel's VFS and page cache are real, and so is the
// backing disk; only the wait is added, in user space, because this
// machine has no device-mapper delay target (docs/chaos.md).
type SlowDisk struct {
	delay atomic.Int64 // nanoseconds
	syncs atomic.Int64
}

// SetDelay sets the delay added to every fsync from now on (0: none).
func (d *SlowDisk) SetDelay(v time.Duration) { d.delay.Store(int64(v)) }

// Syncs is how many fsyncs the disk has passed on.
func (d *SlowDisk) Syncs() int64 { return d.syncs.Load() }

// MountSlowDisk mounts a SlowDisk at dir (created), its data in backing
// (created), until the test ends; the delay starts at 0. The mount is
// private to the isolated run.
func MountSlowDisk(t testing.TB, dir, backing string) *SlowDisk {
	t.Helper()
	for _, p := range []string{dir, backing} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		t.Fatal(err)
	}
	d := &SlowDisk{}
	root := &fs.LoopbackRoot{Path: backing, Dev: uint64(st.Dev)}
	root.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &slowNode{LoopbackNode: fs.LoopbackNode{RootData: r}, disk: d}
	}
	srv, err := fs.Mount(dir, root.NewNode(root, nil, "", &st), &fs.Options{
		MountOptions: fuse.MountOptions{DirectMount: true, FsName: "netlab-slowdisk", Name: "netlab", AllowOther: true},
	})
	if err != nil {
		t.Fatalf("netlab: mounting a slow disk at %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("netlab: unmounting %s: %v", dir, err)
		}
	})
	return d
}

// slowNode is a loopback node whose open files are slow to sync.
type slowNode struct {
	fs.LoopbackNode
	disk *SlowDisk
}

var (
	_ fs.NodeOpener  = (*slowNode)(nil)
	_ fs.NodeCreater = (*slowNode)(nil)
)

func (n *slowNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, e := n.LoopbackNode.Open(ctx, flags)
	if e != 0 {
		return fh, fl, e
	}
	return n.disk.wrap(fh), fl, 0
}

func (n *slowNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	in, fh, fl, e := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if e != 0 {
		return in, fh, fl, e
	}
	return in, n.disk.wrap(fh), fl, 0
}

// wrap makes a loopback file handle slow to sync.
func (d *SlowDisk) wrap(fh fs.FileHandle) fs.FileHandle {
	if lf, ok := fh.(*fs.LoopbackFile); ok {
		return &slowFile{LoopbackFile: lf, disk: d}
	}
	return fh
}

// slowFile is a loopback file whose Fsync (fsync and fdatasync) waits
// first; every other operation is the loopback file's.
type slowFile struct {
	*fs.LoopbackFile
	disk *SlowDisk
}

func (f *slowFile) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if d := time.Duration(f.disk.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	f.disk.syncs.Add(1)
	return f.LoopbackFile.Fsync(ctx, flags)
}

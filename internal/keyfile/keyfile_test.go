package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ddnrs/ddnrs/zone"
)

func TestRead(t *testing.T) {
	k, err := zone.GenerateKey("example.", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := k.FileBase()
	write(base+".key", k.MarshalPublic())
	write(base+".private", k.MarshalPrivate())
	write("Konly.key", k.MarshalPublic())
	write("Kbad.key", []byte("not a key\n"))
	write("Knopub.private", k.MarshalPrivate())

	tests := []struct {
		path        string
		wantPrivate bool
		wantErr     error
	}{
		{filepath.Join(dir, base+".private"), true, nil},
		{filepath.Join(dir, base+".key"), true, nil},
		{filepath.Join(dir, "Konly.key"), false, nil},
		{filepath.Join(dir, "Konly.private"), false, fs.ErrNotExist},
		{filepath.Join(dir, "Knopub.private"), false, fs.ErrNotExist},
		{filepath.Join(dir, "Kbad.key"), false, zone.ErrKeyFormat},
		{filepath.Join(dir, "Kmissing.key"), false, fs.ErrNotExist},
	}
	for _, tt := range tests {
		got, err := Read(tt.path)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Read(%s) = %v, want %v", filepath.Base(tt.path), err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Read(%s) = %v", filepath.Base(tt.path), err)
			continue
		}
		if !zone.SameKey(got.DNSKEY, k.DNSKEY) || (got.Private != nil) != tt.wantPrivate {
			t.Errorf("Read(%s) = key %d private %v, want key %d private %v", filepath.Base(tt.path), got.Tag(), got.Private != nil, k.Tag(), tt.wantPrivate)
		}
	}
}

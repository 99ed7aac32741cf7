package intergroup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The remembered peers survive a save and a load; a missing file is no
// peers, a file of another version or not JSON is an error (the node logs
// it and joins through its configured peers), and entries that are not
// /p2p/ multiaddrs are dropped.
func TestRememberedPeers(t *testing.T) {
	const a = "/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWKRQiyhg2BDGP624kdXW3brHK2HNhh8n8yjrkBGaJP7TZ"
	const b = "/ip4/127.0.0.2/udp/4001/quic-v1/p2p/12D3KooWAD5SJwdZmVpvwQRkfXyTRPCCNTJ2mT1DjPvSmGpG3b6U"
	dir := t.TempDir()
	if got, err := loadPeers(dir); err != nil || got != nil {
		t.Fatalf("loadPeers(no file) = %q, %v; want none, no error", got, err)
	}
	if err := savePeers(dir, []string{a, b}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := loadPeers(dir); err != nil || !slices.Equal(got, []string{a, b}) {
		t.Fatalf("loadPeers after savePeers = %q, %v; want %q", got, err, []string{a, b})
	}
	tests := []struct {
		desc    string
		content string
		want    []string
		wantErr error
	}{
		{"another version", `{"version":2,"peers":["` + a + `"]}`, nil, errPeersVersion},
		{"not JSON", `peers`, nil, nil},
		{"bad entries dropped", `{"version":1,"peers":["` + a + `","/ip4/127.0.0.1/udp/1/quic-v1","12D3Koo"]}`, []string{a}, nil},
	}
	for _, tc := range tests {
		if err := os.WriteFile(filepath.Join(dir, PeersFile), []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := loadPeers(dir)
		switch {
		case tc.desc == "not JSON":
			if err == nil {
				t.Errorf("%s: loadPeers = %q, nil; want an error", tc.desc, got)
			}
		case !errors.Is(err, tc.wantErr) || !slices.Equal(got, tc.want):
			t.Errorf("%s: loadPeers = %q, %v; want %q, %v", tc.desc, got, err, tc.want, tc.wantErr)
		}
	}
}

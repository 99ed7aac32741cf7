package node

import "testing"

// TestPeerAPIURL checks the API URL a cluster-wide audit read asks a
// directory record at.
func TestPeerAPIURL(t *testing.T) {
	for _, tc := range []struct {
		scheme, api, dns string
		want             string
	}{
		{"http", "127.0.0.2:8080", "127.0.0.2:53", "http://127.0.0.2:8080"},
		{"https", "[::1]:443", "[::1]:53", "https://[::1]:443"},
		{"http", "api.example.net:80", "", "http://api.example.net:80"},
		{"http", "0.0.0.0:8080", "192.0.2.7:53", "http://192.0.2.7:8080"},
		{"http", "[::]:8080", "[2001:db8::7]:53", "http://[2001:db8::7]:8080"},
		{"http", ":8080", "192.0.2.7:53", "http://192.0.2.7:8080"},
		{"http", "0.0.0.0:8080", "0.0.0.0:53", ""},
		{"http", "0.0.0.0:8080", "", ""},
		{"http", "", "192.0.2.7:53", ""},
		{"http", "192.0.2.7", "192.0.2.7:53", ""},
		{"http", "192.0.2.7:0", "192.0.2.7:53", ""},
	} {
		if got := peerAPIURL(tc.scheme, tc.api, tc.dns); got != tc.want {
			t.Errorf("peerAPIURL(%q, %q, %q) = %q, want %q", tc.scheme, tc.api, tc.dns, got, tc.want)
		}
	}
}

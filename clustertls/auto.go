package clustertls

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/ddnrs/ddnrs/internal/pki"
)

// AutoTLS loads, or on first start makes, a private CA and a node
// certificate for id in dir (a node without [tls] files), naming the
// loopback addresses and the hosts of addrs (HOST:PORT; names and IPs).
// Only this node trusts that CA, so it suits a single machine; a group
// needs [tls] files from one cluster CA.
func AutoTLS(dir, id string, addrs []string, log *slog.Logger) (*pki.Pair, *x509.CertPool, error) {
	certPath, keyPath := filepath.Join(dir, pki.CertFile), filepath.Join(dir, pki.KeyFile)
	if _, err := os.Stat(certPath); err == nil {
		pair, err := pki.LoadPair(certPath, keyPath)
		if err != nil {
			return nil, nil, err
		}
		pool, err := pki.LoadCAPool(filepath.Join(dir, pki.CACertFile))
		return pair, pool, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	ca, err := pki.LoadCA(dir)
	if err != nil {
		if ca, err = pki.NewCA("ddnrs node " + id); err != nil {
			return nil, nil, err
		}
		if err := ca.Save(dir); err != nil {
			return nil, nil, err
		}
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	var names []string
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			continue
		}
		if ip := net.ParseIP(host); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, host)
		}
	}
	pair, err := pki.IssueNode(ca, id, ips, names)
	if err != nil {
		return nil, nil, err
	}
	if err := pair.Save(dir); err != nil {
		return nil, nil, err
	}
	if log != nil {
		log.Warn("made a private CA and node certificate; set [tls] for a group of several nodes", "dir", dir)
	}
	return pair, ca.Pool(), nil
}

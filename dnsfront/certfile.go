package dnsfront

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultCertCheck is how often CertFile looks at its files by default.
const DefaultCertCheck = time.Second

// CertFile serves a certificate chain and key from PEM files and reloads
// them when either file changes (modification time or size), so an
// operator or an ACME client can replace them without a restart. The
// files are looked at during a handshake, at most once per check
// interval; a pair that fails to load is reported by Reload and the
// previous one is kept.
//
// GetCertificate is safe for concurrent use; it is what the servers'
// tls.Config calls.
type CertFile struct {
	certPath, keyPath string
	every             time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
	lastErr error
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// LoadCertFile loads the pair now and returns a CertFile that checks the
// files again at most every check (DefaultCertCheck when 0; negative:
// on every handshake).
func LoadCertFile(certPath, keyPath string, check time.Duration) (*CertFile, error) {
	if check == 0 {
		check = DefaultCertCheck
	}
	c := &CertFile{certPath: certPath, keyPath: keyPath, every: check}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads the pair; c.mu is held.
func (c *CertFile) load() error {
	var st [2]fileStamp
	for i, p := range [...]string{c.certPath, c.keyPath} {
		s, err := stampOf(p)
		if err != nil {
			return fmt.Errorf("certificate: %w", err)
		}
		st[i] = s
	}
	pair, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		return fmt.Errorf("certificate %s, key %s: %w", c.certPath, c.keyPath, err)
	}
	c.cert, c.stamp = &pair, st
	return nil
}

// Reload loads the files again if they changed since the last load, and
// returns the error of that load (nil when nothing changed). The current
// pair stays in use when loading fails.
func (c *CertFile) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reloadLocked(time.Now())
}

func (c *CertFile) reloadLocked(now time.Time) error {
	c.checked = now
	for i, p := range [...]string{c.certPath, c.keyPath} {
		s, err := stampOf(p)
		if err != nil {
			c.lastErr = fmt.Errorf("certificate: %w", err)
			return c.lastErr
		}
		if s != c.stamp[i] {
			c.lastErr = c.load()
			return c.lastErr
		}
	}
	return nil
}

// Certificate returns the pair in use.
func (c *CertFile) Certificate() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert
}

// GetCertificate implements tls.Config.GetCertificate: it returns the
// pair in use, reloading it first when the check interval has passed and
// the files changed.
func (c *CertFile) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.every < 0 || now.Sub(c.checked) >= c.every {
		c.reloadLocked(now) // on failure the previous pair is served
	}
	return c.cert, nil
}

// TLSConfig returns a server configuration serving c's pair: TLS 1.2 and
// 1.3, no ALPN protocols (each server adds its own).
func (c *CertFile) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

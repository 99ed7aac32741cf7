package node

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"

	"github.com/ddnrs/ddnrs/clustertls"
	"github.com/ddnrs/ddnrs/internal/pki"
)

// TLSDir returns the directory in dataDir where a node without [tls]
// files keeps the CA and certificate it made for itself.
func TLSDir(dataDir string) string { return filepath.Join(dataDir, "tls") }

// loadTLS returns the mutual TLS 1.3 configuration the node listens and
// dials Raft with, and the client configuration for other nodes' admin
// endpoints. Each checks the
// peer certificate's scope for its use (clustertls), and takes this
// node's certificate from a clustertls.Reloader, so renewed files are used
// without a restart. The admin listener's is n.trust.AdminServer of the
// first.
func (n *Node) loadTLS() (mutual, client *tls.Config, err error) {
	c := n.cfg.TLS
	var (
		pair *pki.Pair
		pool *x509.CertPool
	)
	certPath, keyPath := c.Cert, c.Key
	if c.Auto() {
		pair, pool, err = n.autoTLS()
		dir := TLSDir(n.cfg.DataDir)
		certPath, keyPath = filepath.Join(dir, pki.CertFile), filepath.Join(dir, pki.KeyFile)
	} else {
		pair, err = pki.LoadPair(c.Cert, c.Key)
		if err == nil {
			pool, err = pki.LoadCAPool(c.CA)
		}
	}
	if err == nil {
		err = n.trust.CheckOwn(pair.Cert)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	if s, err := pki.ScopeOf(pair.Cert); err == nil {
		n.log.Info("tls: certificate scoped", "scope", s.String(), "serial", fmt.Sprintf("%x", pair.Cert.SerialNumber), "not_after", pair.Cert.NotAfter)
	} else {
		n.log.Warn("tls: this node's certificate names no group and role (version 1, cluster-wide): any group accepts it; issue a scoped one (ddnrs ops cert issue --scope member:GROUP)", "cert", certPath)
	}
	mutual, client = n.trust.Configs(certPath, keyPath, pair, pool)
	if c.RenewURL != "" {
		n.renewer = &clustertls.Renewer{URL: c.RenewURL, CertPath: certPath, KeyPath: keyPath, Before: c.RenewBefore,
			NewKey: c.RenewNewKey, TLS: clustertls.RenewTLS(client), Policy: n.trust, Log: n.log.With("component", "tls")}
	}
	return mutual, client, nil
}

// autoTLS loads, or on first start makes, a private CA and a node
// certificate in TLSDir (clustertls.AutoTLS).
func (n *Node) autoTLS() (*pki.Pair, *x509.CertPool, error) {
	return clustertls.AutoTLS(TLSDir(n.cfg.DataDir), n.cfg.Group.ID,
		[]string{n.cfg.Group.RaftBind, n.cfg.Group.RaftAdvertise, n.cfg.Admin.Listen, n.cfg.Admin.Advertise}, n.log)
}

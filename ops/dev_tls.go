package ops

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/node"
)

// devDNSName is the name the dev DNS certificate holds besides
// 127.0.0.1 and ::1: clients check it (kdig +tls-hostname=localhost,
// Unbound's forward-addr 127.0.0.1@PORT#localhost).
const devDNSName = "localhost"

// devDNS is the certificate ddnrs dev serves DoT, DoH and DoQ with,
// issued by the dev CA.
type devDNS struct {
	CA   string // the dev CA certificate, which clients verify against
	Cert string
	Key  string
	SPKI string // base64 SHA-256 of the certificate's public key (RFC 7858 §4.2)
}

// devDNSCert loads, or on first run issues, the dev DNS certificate in
// DATA/tls/dns, signed by the dev CA in DATA/tls/ca (made by devTLS) for
// localhost, 127.0.0.1 and ::1. The CA is made when it is missing.
//
// The certificate is serving-only (pki.IssueServer: server usage, its own
// key), so its key, which every DoT, DoH and DoQ listener holds, is not a
// cluster credential: the admin endpoints and Raft refuse it
// (pki.CheckClusterCert). A data directory from an earlier build holds a
// DNS certificate with client usage too; it is replaced by a
// serving-only one with a new key.
func devDNSCert(data string) (devDNS, error) {
	caDir := filepath.Join(data, "tls", "ca")
	dir := filepath.Join(data, "tls", "dns")
	d := devDNS{
		CA:   filepath.Join(caDir, pki.CACertFile),
		Cert: filepath.Join(dir, pki.CertFile),
		Key:  filepath.Join(dir, pki.KeyFile),
	}
	if c, err := pki.LoadCert(d.Cert); err == nil && pki.CheckClusterCert(c) == nil {
		// An earlier build's certificate, usable as a client one.
		if err := errors.Join(os.Remove(d.Cert), os.Remove(d.Key)); err != nil {
			return d, fmt.Errorf("replacing the dev DNS certificate with a serving-only one: %w", err)
		}
	}
	if _, err := os.Stat(d.Cert); errors.Is(err, fs.ErrNotExist) {
		ca, err := devCA(caDir)
		if err != nil {
			return d, err
		}
		p, err := pki.IssueServer(ca, "ddnrs dev DNS", []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, []string{devDNSName})
		if err != nil {
			return d, err
		}
		if err := p.Save(dir); err != nil {
			return d, fmt.Errorf("dev DNS certificate: %w", err)
		}
	} else if err != nil {
		return d, err
	}
	cert, err := pki.LoadCert(d.Cert)
	if err != nil {
		return d, fmt.Errorf("dev DNS certificate: %w", err)
	}
	d.SPKI = pki.SPKIPin(cert)
	return d, nil
}

// devCA loads the dev CA from caDir, making it on first run.
func devCA(caDir string) (*pki.CA, error) {
	_, err := os.Stat(filepath.Join(caDir, pki.CACertFile))
	if errors.Is(err, fs.ErrNotExist) {
		ca, err := pki.NewCA("ddnrs dev CA")
		if err != nil {
			return nil, err
		}
		if err := ca.Save(caDir); err != nil {
			return nil, fmt.Errorf("dev CA: %w", err)
		}
		return ca, nil
	}
	ca, err := pki.LoadCA(caDir)
	if err != nil {
		return nil, fmt.Errorf("dev CA: %w", err)
	}
	return ca, nil
}

// devEncrypted returns a dev member's encrypted listeners: DoT, DoH and
// DoQ on free ports of 127.0.0.1 with the dev DNS certificate.
func devEncrypted(data string) (node.EncryptedConfig, error) {
	d, err := devDNSCert(data)
	if err != nil {
		return node.EncryptedConfig{}, err
	}
	c := node.DefaultEncrypted()
	c.Enabled = true
	c.DoT, c.DoH, c.DoQ = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.CertFile, c.KeyFile = d.Cert, d.Key
	return c, nil
}

// readyEncrypted is the encrypted part of the ready file: member 1's
// addresses, the CA file and the pin of the certificate.
type readyEncrypted struct {
	// CA is shadowed by a "ca" field of the enclosing struct, if any:
	// both name the same file.
	CA   string `json:"ca,omitempty"`
	DoT  string `json:"dot,omitempty"`
	DoH  string `json:"doh,omitempty"` // the DoH URL
	DoQ  string `json:"doq,omitempty"`
	SPKI string `json:"spki,omitempty"`
}

func encryptedReady(data string, n *node.Node) readyEncrypted {
	a := n.EncryptedAddrs()
	if !a.DoT.IsValid() {
		return readyEncrypted{}
	}
	d, _ := devDNSCert(data) // made before the members started
	return readyEncrypted{CA: d.CA, DoT: a.DoT.String(), DoH: dohURL(a.DoH.Port()), DoQ: a.DoQ.String(), SPKI: d.SPKI}
}

func dohURL(port uint16) string {
	return fmt.Sprintf("https://%s:%d/dns-query", devDNSName, port)
}

// printEncrypted prints member 1's encrypted listeners, how to verify
// them, and client commands to try.
func printEncrypted(w io.Writer, data string, n *node.Node) {
	a := n.EncryptedAddrs()
	if !a.DoT.IsValid() {
		return
	}
	d, err := devDNSCert(data)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "encrypted DNS (certificate for %s from the dev CA %s, SPKI pin sha256/%s):\n", devDNSName, d.CA, d.SPKI)
	fmt.Fprintf(w, "  DoT %s   DoH %s (HTTP/2 and HTTP/3)   DoQ %s\n", a.DoT, dohURL(a.DoH.Port()), a.DoQ)
	fmt.Fprintf(w, "  kdig @127.0.0.1 -p %d +tls-ca=%s +tls-hostname=%s www.%s A\n", a.DoT.Port(), d.CA, devDNSName, demo.Origin)
	fmt.Fprintf(w, "  kdig @127.0.0.1 -p %d +tls-ca=%s +tls-hostname=%s +https www.%s A\n", a.DoH.Port(), d.CA, devDNSName, demo.Origin)
	fmt.Fprintf(w, "  kdig @127.0.0.1 -p %d +tls-ca=%s +tls-hostname=%s +quic www.%s A\n", a.DoQ.Port(), d.CA, devDNSName, demo.Origin)
	fmt.Fprintf(w, "  curl --cacert %s '%s?name=www.%s&type=A'   # JSON with the audit\n", d.CA, dohURL(a.DoH.Port()), demo.Origin)
}

// devTLSFiles are the PEM files of the dev group's cluster CA, of each
// member and of the operator (the ops CLI and dev's own owner side).
type devTLSFiles struct {
	CA      string
	Members [devMembers]certFiles
	Ops     certFiles
}

type certFiles struct{ Cert, Key string }

// devTLS loads, or on first run makes, a cluster CA in DATA/tls/ca and a
// certificate for each member and for the operator in DATA/tls/ID.
func devTLS(data string) (devTLSFiles, error) {
	dir := filepath.Join(data, "tls")
	caDir := filepath.Join(dir, "ca")
	var tf devTLSFiles
	tf.CA = filepath.Join(caDir, pki.CACertFile)
	var ca *pki.CA
	if _, err := os.Stat(tf.CA); errors.Is(err, fs.ErrNotExist) {
		if ca, err = pki.NewCA("ddnrs dev cluster CA"); err != nil {
			return tf, err
		}
		if err := ca.Save(caDir); err != nil {
			return tf, fmt.Errorf("dev cluster CA: %w", err)
		}
	} else if err != nil {
		return tf, err
	}
	issue := func(id string) (certFiles, error) {
		d := filepath.Join(dir, id)
		cf := certFiles{Cert: filepath.Join(d, pki.CertFile), Key: filepath.Join(d, pki.KeyFile)}
		if _, err := os.Stat(cf.Cert); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return cf, err
		}
		if ca == nil {
			var err error
			if ca, err = pki.LoadCA(caDir); err != nil {
				return cf, fmt.Errorf("dev cluster CA: %w", err)
			}
		}
		p, err := pki.IssueNode(ca, id, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, []string{"localhost"})
		if err != nil {
			return cf, err
		}
		if err := p.Save(d); err != nil {
			return cf, fmt.Errorf("certificate for %s: %w", id, err)
		}
		return cf, nil
	}
	var err error
	for i := range tf.Members {
		if tf.Members[i], err = issue(devMemberID(i)); err != nil {
			return tf, err
		}
	}
	tf.Ops, err = issue("ops")
	return tf, err
}

// client returns an admin client with the operator's certificate.
func (tf devTLSFiles) client() (*admin.Client, error) {
	o := adminOptions{CA: tf.CA, Cert: tf.Ops.Cert, Key: tf.Ops.Key}
	return o.client()
}

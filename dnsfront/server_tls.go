package dnsfront

import (
	"crypto/tls"
	"fmt"
	"net"
)

// ALPN protocol names of the encrypted transports.
const (
	ALPNDoT = "dot" // RFC 7858 (registered by RFC 9461 for SVCB)
	ALPNDoQ = "doq" // RFC 9250 §4.1.1
)

// ListenTLS binds addr for DNS over TLS (RFC 7858) and returns a server
// that answers with h once Serve is called. Framing, pipelining,
// out-of-order replies and the limits are those of DNS over TCP (see
// TCPServer and TCPOptions), with the TLS handshake done on the first
// read, under the idle timeout. The transport passed to h is TLS, so
// replies are padded (RFC 8467) and announce the keepalive timeout when the
// query asks (RFC 7828).
//
// conf must hold a certificate or GetCertificate (see CertFile); ListenTLS
// works on a copy that accepts TLS 1.2 and 1.3 and, when conf names no
// ALPN protocols, offers "dot".
func ListenTLS(addr string, h Responder, conf *tls.Config, opt TCPOptions) (*TCPServer, error) {
	if conf == nil || (len(conf.Certificates) == 0 && conf.GetCertificate == nil && conf.GetConfigForClient == nil) {
		return nil, fmt.Errorf("dns tls listen %s: %w", addr, ErrNoCertificate)
	}
	conf = conf.Clone()
	conf.MinVersion = max(conf.MinVersion, tls.VersionTLS12)
	if len(conf.NextProtos) == 0 {
		conf.NextProtos = []string{ALPNDoT}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dns tls listen %s: %w", addr, err)
	}
	return newStreamServer(tls.NewListener(ln, conf), TLS, h, opt), nil
}
